from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Case lifecycle"

    def ready(self):
        from lifecycle import closure, visibility

        closure.register_emails()
        # Which rows of this app a user may pick, for every door.
        visibility.register()
