"""Reminders of the justice track: a court hearing and an expected release are coming.

Each sweep of the outbox asks ``reminders_materialize`` (registered with
``notifications.delivery.register_due_producer``), which puts in the outbox, on
each active programme's calendar:

- *hearing_soon*: from ``HEARING_DAYS_BEFORE`` days before a scheduled hearing until
  its day, to the case's caseworker and the programme's supervisors;
- *release_soon*: from ``RELEASE_DAYS_BEFORE`` days before the expected release of a
  person still in custody until that day, to the same people.

The due day of each is fixed by the hearing's or the release's date, so the outbox's
(kind, subject, recipient, due day) key makes a second sweep create nothing. The
e-mails name the case by reference and say the date: never the charges, the court's
notes or anything else of the proceedings.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from casework.models import CaseStatus
from justice.models import CourtHearing, HearingOutcome, LegalProceeding
from notifications import kinds
from notifications.delivery import notifications_add
from notifications.emails import templated_message
from notifications.models import Notification
from programmes import rules
from programmes.models import Enrolment, EnrolmentStatus, Programme, ProgrammeMembershipRole

HEARING_KIND = "hearing_soon"
RELEASE_KIND = "release_soon"
HEARING_SUBJECT = "court_hearing"
RELEASE_SUBJECT = "legal_proceeding"
HEARING_DAYS_BEFORE = 7
RELEASE_DAYS_BEFORE = 14
DAY = datetime.timedelta(days=1)


def _supervisor_ids(programme: Programme) -> list[int]:
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            programme_memberships__programme=programme,
            programme_memberships__role=ProgrammeMembershipRole.SUPERVISOR,
        )
        .exclude(email="")
        .values_list("id", flat=True)
        .distinct()
    )


def _enrolled_open_cases(programme: Programme):
    return Enrolment.objects.filter(programme=programme, status=EnrolmentStatus.ACTIVE).exclude(
        case__status=CaseStatus.CLOSED
    )


def _due(programme: Programme, today: datetime.date):
    """(kind, subject type, subject id, caseworker id, due day) of each reminder due today."""
    cases = _enrolled_open_cases(programme).values("case_id")
    hearings = CourtHearing.objects.filter(
        proceeding__case_id__in=cases,
        outcome=HearingOutcome.SCHEDULED,
        held_on__gte=today,
        held_on__lte=today + HEARING_DAYS_BEFORE * DAY,
    ).values_list("id", "held_on", "proceeding__case__caseworker_id")
    for hearing_id, held_on, caseworker_id in hearings:
        yield HEARING_KIND, HEARING_SUBJECT, hearing_id, caseworker_id, held_on - HEARING_DAYS_BEFORE * DAY
    releases = LegalProceeding.objects.filter(
        case_id__in=cases,
        detained_since__isnull=False,
        actual_release_on__isnull=True,
        expected_release_on__gte=today,
        expected_release_on__lte=today + RELEASE_DAYS_BEFORE * DAY,
    ).values_list("id", "expected_release_on", "case__caseworker_id")
    for proceeding_id, release_on, caseworker_id in releases:
        yield RELEASE_KIND, RELEASE_SUBJECT, proceeding_id, caseworker_id, release_on - RELEASE_DAYS_BEFORE * DAY


def reminders_materialize(*, now: datetime.datetime | None = None) -> int:
    """Put every hearing and release reminder due today in the outbox (idempotent); how many were new."""
    rows = set()
    for programme in Programme.objects.filter(is_active=True):
        today = rules.programme_today(programme, now)
        due = list(_due(programme, today))
        if not due:
            continue
        supervisors = _supervisor_ids(programme)
        for kind, subject_type, subject_id, caseworker_id, due_on in due:
            for recipient in {caseworker_id, *supervisors} - {None}:
                rows.add((kind, subject_type, subject_id, recipient, due_on))
    if not rows:
        return 0
    existing = set(
        Notification.objects.filter(
            kind__in=[HEARING_KIND, RELEASE_KIND], due_on__gte=min(r[4] for r in rows)
        ).values_list("kind", "subject_type", "subject_id", "recipient_id", "due_on")
    )
    return notifications_add(rows - existing)


def _programme_of(case_id: int) -> Programme | None:
    enrolment = (
        Enrolment.objects.filter(case_id=case_id, status=EnrolmentStatus.ACTIVE).select_related("programme").first()
    )
    return enrolment.programme if enrolment else None


def _context(case, day: datetime.date) -> dict | None:
    programme = _programme_of(case.pk)
    if programme is None or case.status == CaseStatus.CLOSED:
        return None
    days_left = (day - programme.local_today()).days
    if days_left < 0:
        return None
    link = reverse("admin:casework_case_change", args=[case.pk])
    return {
        "case_reference": case.reference,
        "programme": programme.name,
        "day": day,
        "days_left": days_left,
        "link": settings.SITE_URL.rstrip("/") + link,
    }


def render_hearing(notification: Notification):
    hearing = (
        CourtHearing.objects.select_related("proceeding__case")
        .filter(pk=notification.subject_id, outcome=HearingOutcome.SCHEDULED)
        .first()
    )
    context = hearing and _context(hearing.proceeding.case, hearing.held_on)
    if not context:
        return None
    return templated_message(notification, f"justice/emails/{HEARING_KIND}", context)


def render_release(notification: Notification):
    proceeding = (
        LegalProceeding.objects.select_related("case")
        .filter(Q(actual_release_on__isnull=True), pk=notification.subject_id, expected_release_on__isnull=False)
        .first()
    )
    context = proceeding and _context(proceeding.case, proceeding.expected_release_on)
    if not context:
        return None
    return templated_message(notification, f"justice/emails/{RELEASE_KIND}", context)


def register_emails() -> None:
    """Tell the outbox about the justice track's kinds (called from ``justice.apps``)."""
    kinds.register(
        kinds.EmailKind(
            key=HEARING_KIND, label=_("Court hearing soon"), subject_types=(HEARING_SUBJECT,), render=render_hearing
        ),
        kinds.EmailKind(
            key=RELEASE_KIND, label=_("Release soon"), subject_types=(RELEASE_SUBJECT,), render=render_release
        ),
    )
