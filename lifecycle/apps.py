from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = _("Case lifecycle")

    def ready(self):
        from lifecycle import closure, visibility

        closure.register_emails()
        # Which rows of this app a user may pick, for every door.
        visibility.register()
