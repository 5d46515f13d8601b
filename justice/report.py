"""The justice track's section of the supervisors' stage report (registered with
``programmes.reports.register_section``): per programme, the people in custody, the
hearings and the releases of the coming period, and the people released who have no
community plan yet. Counts only: the report is e-mailed.

"The coming period" is as long as the report's period (a week or a month), from the
day the report is computed.
"""

from __future__ import annotations

import datetime

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from justice.models import CourtHearing, HearingOutcome, LegalProceeding
from programmes.models import Enrolment, EnrolmentStatus, StageRecord, StageTrack
from programmes.reports import ReportSection


def _coming(period, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    return today, today + (period.end - period.start)


def justice_numbers(*, programme, period, today: datetime.date) -> list[tuple[str, str, int]]:
    """Two queries whatever the caseload: one pass over the programme's active enrolments, one count of hearings."""
    start, end = _coming(period, today)
    enrolments = Enrolment.objects.filter(programme=programme, status=EnrolmentStatus.ACTIVE).order_by()
    custody = LegalProceeding.objects.filter(detained_since__isnull=False, actual_release_on__isnull=True)
    in_custody = custody.values("case_id")
    releasing = custody.filter(expected_release_on__range=(start, end)).values("case_id")
    released = LegalProceeding.objects.filter(actual_release_on__lte=today).values("case_id")
    with_community_plan = StageRecord.objects.filter(
        stage_type__programme=programme, stage_type__track=StageTrack.COMMUNITY
    ).values("enrolment_id")
    counts = enrolments.aggregate(
        in_custody=Count("case_id", distinct=True, filter=Q(case_id__in=in_custody)),
        releases=Count("case_id", distinct=True, filter=Q(case_id__in=releasing)),
        released_without_plan=Count(
            "case_id",
            distinct=True,
            filter=Q(case_id__in=released) & ~Q(case_id__in=in_custody) & ~Q(id__in=with_community_plan),
        ),
    )
    hearings = CourtHearing.objects.filter(
        proceeding__case_id__in=enrolments.values("case_id"),
        outcome=HearingOutcome.SCHEDULED,
        held_on__range=(start, end),
    ).count()
    return [
        ("in_custody", _("people in custody"), counts["in_custody"]),
        ("hearings_coming", _("court hearings in the coming period"), hearings),
        ("releases_coming", _("releases expected in the coming period"), counts["releases"]),
        ("released_without_community_plan", _("released without a community plan"), counts["released_without_plan"]),
    ]


SECTION = ReportSection(key="justice", title=_("Justice track"), compute=justice_numbers)
