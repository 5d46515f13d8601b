"""Family tracing's section of the supervisors' stage report (registered with
``programmes.reports.register_section``): per programme, among its active enrolments,
the families not yet reunified (no relative contacted has agreed to contact), the
relatives refusing contact, those unreachable and those still waiting for an answer.
Counts only: the report is e-mailed.
"""

from __future__ import annotations

import datetime

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from programmes.models import Enrolment, EnrolmentStatus, RelativeContact, TracingOutcome
from programmes.reports import ReportSection


def tracing_numbers(*, programme, period, today: datetime.date) -> list[tuple[str, str, int]]:
    """Two queries whatever the caseload: one over the programme's active enrolments'
    families, one over the relatives contacted for them."""
    enrolments = Enrolment.objects.filter(programme=programme, status=EnrolmentStatus.ACTIVE).order_by()
    contacts = RelativeContact.objects.filter(stage__enrolment__in=enrolments).order_by()
    reunified = contacts.filter(outcome=TracingOutcome.AGREES).values("stage__enrolment__case__family_id")
    families = enrolments.filter(case__family__isnull=False).aggregate(
        not_reunified=Count("case__family_id", distinct=True, filter=~Q(case__family_id__in=reunified)),
    )
    counts = contacts.aggregate(
        refusing=Count("id", filter=Q(outcome=TracingOutcome.REFUSES)),
        unreachable=Count("id", filter=Q(outcome=TracingOutcome.UNREACHABLE)),
        pending=Count("id", filter=Q(outcome=TracingOutcome.PENDING)),
    )
    return [
        ("families_not_reunified", _("families not yet reunified"), families["not_reunified"]),
        ("relatives_refusing", _("relatives refusing contact"), counts["refusing"]),
        ("relatives_unreachable", _("relatives unreachable"), counts["unreachable"]),
        ("relatives_pending", _("relatives awaiting an answer"), counts["pending"]),
    ]


SECTION = ReportSection(key="family_tracing", title=_("Family tracing and reunification"), compute=tracing_numbers)
