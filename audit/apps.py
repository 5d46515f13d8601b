from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit trail")

    def ready(self):
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import pre_save

        from audit import admin_log, context, registration

        registration.register_models()
        context.connect_task_signals()
        # Django's admin log names no one: rows by reference, inline names withheld.
        pre_save.connect(admin_log.log_entry_name_withhold, sender=LogEntry, dispatch_uid="admin_log_name_withhold")
