from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Casework"

    def ready(self):
        # The retention page lives in its own module, registered beside the app's admin.
        from casework import admin_retention  # noqa: F401
