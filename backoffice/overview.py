"""What caseworkers see at a glance: the case page's overview and their dashboard.

Both are read with a fixed number of queries whatever the number of stages,
members, follow-ups and notes (the tests assert it).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q

from casework.models import Case, CaseNote, FamilyMembership, Referral
from programmes import rules
from programmes.models import FollowUp, StageRecord, StageStatus
from programmes.workflow import TRANSITIONS, allowed_actions, frozen_reason

RECENT_NOTES = 5
UPCOMING_FOLLOW_UPS = 10


def may_see_sensitive(user, case: Case) -> bool:
    """Former names, aliases, identifiers and legal status: the selectors' one rule."""
    from casework.selectors import may_see_sensitive_case

    return may_see_sensitive_case(user, case)


@dataclass(frozen=True)
class StageButton:
    name: str
    label: str
    needs_note: bool


@dataclass
class CaseOverview:
    case: Case
    today: datetime.date  # the first enrolment's programme's; each stage is judged by its own programme's
    members: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    follow_ups: list = field(default_factory=list)
    referrals: list = field(default_factory=list)
    consents: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    show_sensitive: bool = False


def case_overview(*, case_id: int, user, visible_cases) -> CaseOverview | None:
    """Everything the case page shows above the form, in a fixed number of queries."""
    case = (
        visible_cases.filter(pk=case_id)
        .select_related("person", "family", "operation", "caseworker")
        .prefetch_related(
            "enrolments__programme",
            Prefetch(
                "enrolments__stages",
                queryset=StageRecord.objects.select_related("stage_type", "responsible_user", "responsible_agency")
                .annotate(
                    open_follow_ups=Count(
                        "follow_ups", filter=Q(follow_ups__done_on__isnull=True, follow_ups__cancelled_on__isnull=True)
                    )
                )
                .order_by("stage_type__position"),
            ),
            Prefetch("referrals", queryset=Referral.objects.select_related("agency", "consent", "stage__stage_type")),
            "person__consents__agency",
            "person__names",
        )
        .first()
    )
    if case is None:
        return None
    enrolments = list(case.enrolments.all())
    todays = {enrolment.programme_id: rules.programme_today(enrolment.programme) for enrolment in enrolments}
    today = todays[enrolments[0].programme_id] if enrolments else rules.site_today()
    overview = CaseOverview(case=case, today=today, show_sensitive=may_see_sensitive(user, case))
    for enrolment in enrolments:
        for stage in enrolment.stages.all():
            stage.overdue = rules.stage_is_overdue(
                stage, enrolment_status=enrolment.status, today=todays[enrolment.programme_id]
            )
            # A closed case (or an ended enrolment) offers no button; the workflow refuses them too.
            stage.frozen = frozen_reason(stage)
            stage.allowed = [
                StageButton(name, rules.TRANSITION_LABELS[name], TRANSITIONS[name].needs_note)
                for name in allowed_actions(stage)
            ]
            overview.stages.append(stage)
    if case.family_id:
        overview.members = list(
            FamilyMembership.objects.filter(family_id=case.family_id)
            .select_related("person")
            .prefetch_related(
                Prefetch("person__cases", queryset=visible_cases.only("id", "reference", "person_id", "status"))
            )
            .order_by("id")
        )
    overview.follow_ups = list(
        FollowUp.objects.filter(stage__enrolment__case=case, done_on__isnull=True, cancelled_on__isnull=True)
        .select_related("stage__stage_type", "stage__enrolment", "assignee")
        .order_by("due_date")[:UPCOMING_FOLLOW_UPS]
    )
    for follow_up in overview.follow_ups:
        enrolment = follow_up.stage.enrolment
        follow_up.overdue = rules.follow_up_is_overdue(
            follow_up, enrolment_status=enrolment.status, today=todays.get(enrolment.programme_id, today)
        )
    overview.referrals = list(case.referrals.all())
    overview.consents = list(case.person.consents.all())
    overview.notes = list(CaseNote.objects.filter(case=case).select_related("author")[:RECENT_NOTES])
    return overview


@dataclass
class Dashboard:
    overdue_follow_ups: int
    due_this_week: int
    blocked: int
    overdue_list: list
    due_list: list
    blocked_list: list


# The dashboard's questions, as querysets. ``today``: one day for every programme (to
# pin a day); by default each row is judged on its own programme's today.


def my_overdue_follow_ups(user, today: datetime.date | None = None):
    return FollowUp.objects.filter(
        Q(assignee=user) | Q(assignee__isnull=True, stage__enrolment__case__caseworker=user),
        rules.follow_up_overdue_q(today=today),
    )


def _my_stages(user):
    return StageRecord.objects.filter(
        Q(responsible_user=user) | Q(responsible_user__isnull=True, enrolment__case__caseworker=user),
        rules.stage_pending_q(),
    )


def my_overdue_stages(user, today: datetime.date | None = None):
    return _my_stages(user).filter(rules.stage_overdue_q(today=today))


def _this_week(today: datetime.date) -> Q:
    week_end = today + datetime.timedelta(days=6 - today.weekday())
    return Q(due_date__range=(today, week_end))


def my_stages_due_this_week(user, today: datetime.date | None = None):
    due = _this_week(today) if today else rules.per_programme_today("enrolment__programme_id", _this_week)
    return _my_stages(user).filter(due)


def my_blocked_stages(user, today: datetime.date | None = None):
    return _my_stages(user).filter(status=StageStatus.BLOCKED)


# The admin's "my work" filters (``?mine=...``), by the model they list.
MY_WORK = {
    "follow_ups": {"overdue": my_overdue_follow_ups},
    "stages": {"overdue": my_overdue_stages, "due_this_week": my_stages_due_this_week, "blocked": my_blocked_stages},
}


def caseworker_dashboard(*, user, today: datetime.date | None = None, limit: int = 10) -> Dashboard:
    """My overdue follow-ups, my stages due this week, my blocked stages: three counts, three short lists."""
    follow_ups = my_overdue_follow_ups(user, today)
    due = my_stages_due_this_week(user, today)
    blocked = my_blocked_stages(user)
    related = ("stage_type", "enrolment__case")
    return Dashboard(
        overdue_follow_ups=follow_ups.count(),
        due_this_week=due.count(),
        blocked=blocked.count(),
        overdue_list=list(
            follow_ups.select_related("stage__stage_type", "stage__enrolment__case").order_by("due_date")[:limit]
        ),
        due_list=list(due.select_related(*related).order_by("due_date")[:limit]),
        blocked_list=list(blocked.select_related(*related).order_by("due_date")[:limit]),
    )
