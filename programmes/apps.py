from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProgrammesConfig(AppConfig):
    name = "programmes"
    verbose_name = _("Programmes and stages")

    def ready(self):
        from casework import selectors as case_selectors
        from core import visibility
        from notifications import delivery
        from programmes import enrolled, reminders, reports, selectors, tracing

        # Which rows of this app a user may pick, for every door.
        visibility.register(
            {
                "programmes.Programme": selectors.programme_visible_to,
                "programmes.StageType": selectors.stage_type_visible_to,
                "programmes.Enrolment": selectors.enrolment_visible_to,
                "programmes.StageRecord": selectors.stage_visible_to,
                "programmes.FollowUp": selectors.follow_up_visible_to,
                "programmes.AccommodationStay": selectors.accommodation_stay_visible_to,
                "programmes.PsychologicalSession": selectors.psychological_session_visible_to,
                "programmes.SchoolPlacement": selectors.school_placement_visible_to,
                "programmes.DocumentRequest": selectors.document_request_visible_to,
                "programmes.HousingPlacement": selectors.housing_placement_visible_to,
                "programmes.EmploymentPlacement": selectors.employment_placement_visible_to,
                "programmes.RelativeContact": selectors.relative_contact_visible_to,
            }
        )
        # Staff see the cases enrolled in their programmes: casework asks this app.
        case_selectors.register_enrolled_cases(selectors.enrolled_case_ids)
        # Every enrolment written or deleted keeps its case's "enrolled" mark.
        enrolled.connect()
        # The outbox sends the reminders' and reports' e-mails, and asks for due reminders on each sweep.
        reminders.register_emails()
        reports.register_emails()
        # The stage report's section on family tracing.
        reports.register_section(tracing.SECTION)
        delivery.register_due_producer(reminders.reminders_materialize)
