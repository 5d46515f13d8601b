from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JusticeConfig(AppConfig):
    name = "justice"
    verbose_name = _("Justice track")

    def ready(self):
        from core import visibility
        from justice import audited_reads, reminders, report, selectors
        from notifications import delivery
        from programmes import reports

        # Which proceedings and hearings a user may pick, for every door (core.visibility).
        visibility.register(
            {
                "justice.LegalProceeding": selectors.proceeding_visible_to,
                "justice.CourtHearing": selectors.hearing_visible_to,
            }
        )
        # Whom a read of a proceeding or a hearing concerns (audit.reads).
        audited_reads.register()
        # Hearing and release reminders go through the outbox, asked for on each sweep.
        reminders.register_emails()
        delivery.register_due_producer(reminders.reminders_materialize)
        # The stage report's section on custody, hearings and releases.
        reports.register_section(report.SECTION)
