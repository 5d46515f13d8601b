from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Case lifecycle"

    def ready(self):
        from lifecycle import closure

        closure.register_emails()
