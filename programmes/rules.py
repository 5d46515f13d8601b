"""The shared rules, defined once: the programme's today, what is overdue, age bands
and the names of stage transitions.

The admin's list filters, the API's filtersets, the caseworker's dashboard and case
page, reminders and reports all read these definitions; none of them writes its own.

The programme's today
    A programme works on its own calendar (``Programme.time_zone``): a due date is
    missed when the programme's day has passed it, wherever the server is. Queries
    that span programmes compare each row with its own programme's today: the
    programmes are grouped by their current calendar day (time zones span about 26
    hours, so there are never more than three groups, and nearly always one) and
    the condition is written once per group. With one group it is a plain date
    comparison. ``site_today`` (the site's ``TIME_ZONE``) is used only where no
    programme applies: a person's age and a case without any enrolment.

Overdue
    - a stage is overdue when it is open (planned, active or blocked), its enrolment
      is active, and its due date is before its programme's today;
    - a follow-up is overdue when it is neither done nor cancelled, its stage's
      enrolment is active, and its due date is before its programme's today (an
      open follow-up of a closed stage cannot exist: closing a stage cancels them);
    - a case is overdue when it has an overdue stage among the stages the user may
      see. Its overdue follow-ups are a separate question (the admin's "a follow-up
      past its due date"), as they are in the API (``/follow-ups/?overdue=true``): a
      late visit does not make the case's plan late.
    A closed case has no active enrolment (closure ends them), so nothing in it is
    overdue, whatever its stages' statuses say.

Age bands
    One table, ``AGE_BANDS``, whose keys (``preschool``, ``school``, ``adult``) are
    part of the API; the admin's age filter uses the same keys and still accepts its
    former values (``0-5``, ``6-17``, ``18+``) through ``FORMER_AGE_BAND_KEYS``.

Transitions
    ``programmes.workflow.TRANSITIONS`` is the table of allowed transitions and
    ``programmes.workflow.ACTION_PAST`` their past tense; ``TRANSITION_LABELS`` here
    names each one on a button, keyed by the same actions.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models import ADULT_AGE, years_before
from programmes.models import OPEN_STAGE_STATUSES, Enrolment, EnrolmentStatus, FollowUp, Programme, StageRecord
from programmes.workflow import ACTION_PAST

__all__ = [
    "ACTION_PAST",
    "AGE_BANDS",
    "FORMER_AGE_BAND_KEYS",
    "TRANSITION_LABELS",
    "age_band_q",
    "case_has_overdue_follow_up",
    "case_has_overdue_stage",
    "case_in_programme",
    "child_q",
    "follow_up_is_overdue",
    "follow_up_overdue_q",
    "follow_up_pending_q",
    "per_programme_today",
    "programme_today",
    "programme_todays",
    "site_today",
    "stage_is_overdue",
    "stage_overdue_q",
    "stage_pending_q",
]


# --- today ----------------------------------------------------------------------------


def site_today(now: datetime.datetime | None = None) -> datetime.date:
    """The site's calendar day: only where no programme applies (ages, a case never enrolled)."""
    return timezone.localdate(now)


def programme_today(programme: Programme, now: datetime.datetime | None = None) -> datetime.date:
    """The programme's calendar day at ``now`` (default: now)."""
    return programme.local_today(now)


def programme_todays(now: datetime.datetime | None = None) -> dict[datetime.date, list[int]]:
    """Every programme's id grouped by its calendar day at ``now``: one query, a few groups."""
    now = now or timezone.now()
    days: dict[datetime.date, list[int]] = defaultdict(list)
    for programme in Programme.objects.only("pk", "time_zone").order_by("pk"):
        days[programme_today(programme, now)].append(programme.pk)
    return dict(days) or {site_today(now): []}


def per_programme_today(
    programme_field: str, condition: Callable[[datetime.date], Q], *, now: datetime.datetime | None = None
) -> Q:
    """``condition(today)`` with each row's own programme's today (``programme_field`` names
    the row's programme id, e.g. ``enrolment__programme_id``)."""
    groups = programme_todays(now)
    if len(groups) == 1:
        # Every programme is on the same day: no need to tell them apart.
        return condition(next(iter(groups)))
    combined = Q()
    for day, programme_ids in groups.items():
        combined |= Q(**{f"{programme_field}__in": programme_ids}) & condition(day)
    return combined


# --- overdue --------------------------------------------------------------------------


def stage_pending_q() -> Q:
    """A stage that still has work ahead of it: open, in an active enrolment (overdue once
    its due date is before its programme's today)."""
    return Q(status__in=OPEN_STAGE_STATUSES, enrolment__status=EnrolmentStatus.ACTIVE)


def follow_up_pending_q() -> Q:
    """A follow-up still to be done: neither done nor cancelled, its stage's enrolment active
    (overdue once its due date is before its programme's today)."""
    return Q(done_on__isnull=True, cancelled_on__isnull=True, stage__enrolment__status=EnrolmentStatus.ACTIVE)


def stage_overdue_q(
    *,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    enrolment_active: Q | Exists | None = None,
) -> Q:
    """Overdue stages, as a filter on ``StageRecord``.

    ``today``: one programme's today, for a query that is about that programme only
    (reports); without it each stage is compared with its own programme's today.
    ``enrolment_active``: an equivalent of "the enrolment is active" that the caller
    has found cheaper (reports), or ``Q()`` when its rows are filtered on it already.
    """
    pending = Q(status__in=OPEN_STAGE_STATUSES) & (
        Q(enrolment__status=EnrolmentStatus.ACTIVE) if enrolment_active is None else enrolment_active
    )
    if today is not None:
        return pending & Q(due_date__lt=today)
    return pending & per_programme_today("enrolment__programme_id", lambda day: Q(due_date__lt=day), now=now)


def follow_up_overdue_q(
    *,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    enrolment_active: Q | Exists | None = None,
) -> Q:
    """Overdue follow-ups, as a filter on ``FollowUp`` (``today`` and ``enrolment_active`` as for stages)."""
    pending = Q(done_on__isnull=True, cancelled_on__isnull=True) & (
        Q(stage__enrolment__status=EnrolmentStatus.ACTIVE) if enrolment_active is None else enrolment_active
    )
    if today is not None:
        return pending & Q(due_date__lt=today)
    return pending & per_programme_today("stage__enrolment__programme_id", lambda day: Q(due_date__lt=day), now=now)


#: The name of the annotation that carries the rule's answer into API rows.
OVERDUE_FLAG = "overdue_now"


def with_overdue_flag(queryset: QuerySet) -> QuerySet:
    """Stages or follow-ups with ``overdue_now`` computed by the database from the same Q
    as the filters, so a row's ``is_overdue`` and ``?overdue=`` can never disagree."""
    condition = stage_overdue_q() if queryset.model is StageRecord else follow_up_overdue_q()
    return queryset.annotate(**{OVERDUE_FLAG: ExpressionWrapper(condition, output_field=BooleanField())})


def row_is_overdue(row) -> bool:
    """A loaded stage or follow-up: the annotation when present, else the rule on the row."""
    flag = getattr(row, OVERDUE_FLAG, None)
    if flag is not None:
        return bool(flag)
    if isinstance(row, StageRecord):
        enrolment = row.enrolment
        return stage_is_overdue(row, enrolment_status=enrolment.status, today=programme_today(enrolment.programme))
    enrolment = row.stage.enrolment
    return follow_up_is_overdue(row, enrolment_status=enrolment.status, today=programme_today(enrolment.programme))


def stage_is_overdue(stage: StageRecord, *, enrolment_status: str, today: datetime.date) -> bool:
    """``stage_overdue_q`` for a stage already loaded (``today``: its programme's)."""
    return enrolment_status == EnrolmentStatus.ACTIVE and stage.status in OPEN_STAGE_STATUSES and stage.due_date < today


def follow_up_is_overdue(follow_up: FollowUp, *, enrolment_status: str, today: datetime.date) -> bool:
    """``follow_up_overdue_q`` for a follow-up already loaded (``today``: its programme's)."""
    return enrolment_status == EnrolmentStatus.ACTIVE and follow_up.is_open and follow_up.due_date < today


def case_has_overdue_stage(
    *, stages: QuerySet[StageRecord] | None = None, now: datetime.datetime | None = None, case_field: str = "pk"
) -> Exists:
    """Cases with an overdue stage among ``stages`` (the stages the user may see)."""
    stages = StageRecord.objects.all() if stages is None else stages
    return Exists(stages.filter(stage_overdue_q(now=now), enrolment__case_id=OuterRef(case_field)))


def case_has_overdue_follow_up(
    *, follow_ups: QuerySet[FollowUp] | None = None, now: datetime.datetime | None = None, case_field: str = "pk"
) -> Exists:
    """Cases with an overdue follow-up among ``follow_ups`` (the follow-ups the user may see)."""
    follow_ups = FollowUp.objects.all() if follow_ups is None else follow_ups
    return Exists(follow_ups.filter(follow_up_overdue_q(now=now), stage__enrolment__case_id=OuterRef(case_field)))


# --- programme ------------------------------------------------------------------------


def case_in_programme(programme_id: int, *, case_field: str = "pk") -> Exists:
    """Cases enrolled in the programme, now or before: a closed case stays in its programme's
    caseload (combine with the case status for the current ones)."""
    return Exists(Enrolment.objects.filter(programme_id=programme_id, case_id=OuterRef(case_field)))


# --- age bands ------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeBand:
    youngest: int  # full years, inclusive
    oldest: int | None  # inclusive; None: no upper limit
    label: str

    @property
    def span(self) -> str:
        return f"{self.youngest}+" if self.oldest is None else f"{self.youngest}-{self.oldest}"


# The keys are the API's (``age_band=preschool``).
AGE_BANDS = {
    "preschool": AgeBand(0, 5, _("Preschool (0-5)")),
    "school": AgeBand(6, ADULT_AGE - 1, _("School age (6-17)")),
    "adult": AgeBand(ADULT_AGE, None, _("Adult (18+)")),
}

# The admin's former values of ``?age=``, still accepted in links and bookmarks.
FORMER_AGE_BAND_KEYS = {"0-5": "preschool", "6-17": "school", "18+": "adult"}


def age_band_q(band: str, *, birth_field: str, today: datetime.date | None = None) -> Q:
    """People whose age in full years on ``today`` (default: the site's) falls in the band,
    as a filter on their date of birth."""
    today = today or site_today()
    limits = AGE_BANDS[band]
    q = Q(**{f"{birth_field}__lte": years_before(today, limits.youngest)})
    if limits.oldest is not None:
        q &= Q(**{f"{birth_field}__gt": years_before(today, limits.oldest + 1)})
    return q


def child_q(*, birth_field: str, today: datetime.date) -> Q:
    """Children (under ``ADULT_AGE``) on ``today``: every band but the adults'."""
    return Q(**{f"{birth_field}__gt": years_before(today, AGE_BANDS["adult"].youngest)})


# --- transitions ----------------------------------------------------------------------


# What each transition of ``programmes.workflow.TRANSITIONS`` is called on a button.
TRANSITION_LABELS = {
    "start": _("Start"),
    "complete": _("Complete"),
    "block": _("Block"),
    "unblock": _("Unblock"),
    "discontinue": _("Discontinue"),
    "reopen": _("Reopen"),
}
