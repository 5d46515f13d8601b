from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = _("Casework")

    def ready(self):
        # Which rows of this app a user may pick, for every door (core.visibility).
        from casework import audited_reads, referral_emails, visibility

        visibility.register()
        # Whom a read of a case, person, family or note concerns (audit.reads).
        audited_reads.register()
        # The outbox sends the agencies' referral e-mails.
        referral_emails.register_emails()
