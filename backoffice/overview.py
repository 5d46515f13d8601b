"""What caseworkers see at a glance: the case page's overview and their dashboard.

Both are read with a fixed number of queries whatever the number of stages,
members, follow-ups and notes (the tests assert it).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q

from backoffice.who import with_who
from casework.models import (
    Case,
    CaseNote,
    CaseStatus,
    ClosureRequest,
    ClosureRequestStatus,
    FamilyMembership,
    Referral,
    ReferralStatus,
    SENSITIVE_NAME_KINDS,
)
from lifecycle.closure import may_decide as closure_may_decide
from lifecycle.models import TransferStatus
from lifecycle.transfer import may_request as transfer_may_request
from lifecycle.transfer import transfer_destinations
from casework.visibility import rows_for_referrals
from programmes import rules
from casework.selectors import receiving_relative_visible_to
from programmes.models import FollowUp, Programme, StageKind, StageRecord, StageStatus
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
    closure_requests: list = field(default_factory=list)
    #: a home visit's lines: current school, documents, housing; languages; names by kind
    school: object = None
    documents: list = field(default_factory=list)
    housing: object = None
    languages: list = field(default_factory=list)
    other_names: list = field(default_factory=list)
    #: the interpreter's language (a name), "" when none is needed or none named
    interpreter: str = ""
    #: family tracing: the relatives receiving the family, those contacted, the stage they go on
    relatives: list = field(default_factory=list)
    relative_contacts: list = field(default_factory=list)
    tracing_stage: StageRecord | None = None
    pending_closure: ClosureRequest | None = None
    may_request_closure: bool = False
    may_decide_closure: bool = False
    #: transfers between programmes (``lifecycle.transfer``): the history, the pending one,
    #: and where the user may send the case
    transfers: list = field(default_factory=list)
    pending_transfer: object = None
    transfer_destinations: list = field(default_factory=list)


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
                .prefetch_related("school_placements", "document_requests", "housing_placements", "relative_contacts")
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
            Prefetch(
                "closure_requests",
                queryset=ClosureRequest.objects.select_related("requested_by", "decided_by").order_by("-requested_at"),
            ),
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
        overview.relatives = list(receiving_relative_visible_to(user).filter(family_id=case.family_id).order_by("id"))
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
    _home_visit_lines(overview)
    overview.closure_requests = list(case.closure_requests.all())
    overview.pending_closure = next(
        (row for row in overview.closure_requests if row.status == ClosureRequestStatus.PENDING), None
    )
    overview.may_request_closure = (
        case.status != CaseStatus.CLOSED
        and overview.pending_closure is None
        and user.has_perm("casework.add_closurerequest")
    )
    overview.may_decide_closure = overview.pending_closure is not None and closure_may_decide(
        user, overview.pending_closure
    )
    overview.transfers = list(
        case.transfer_requests.select_related("from_programme", "to_programme", "requested_by", "decided_by")
    )
    overview.pending_transfer = next((row for row in overview.transfers if row.status == TransferStatus.PENDING), None)
    if overview.pending_transfer is None and transfer_may_request(user, case):
        overview.transfer_destinations = list(transfer_destinations(case))
    return overview


def _home_visit_lines(overview: CaseOverview) -> None:
    """What a home visit needs on one screen, from the rows already loaded: the current
    school, each document's state, the current housing, the languages and the other names
    by kind (former names and aliases only to those who may see them)."""
    from lifecycle.intake import LANGUAGES

    for stage in overview.stages:
        overview.relative_contacts.extend(stage.relative_contacts.all())
        if stage.stage_type.kind == StageKind.HOUSING and overview.tracing_stage is None and not stage.frozen:
            overview.tracing_stage = stage
        for placement in stage.school_placements.all():
            if placement.left_on is None:
                overview.school = placement
        overview.documents.extend(stage.document_requests.all())
        for placement in stage.housing_placements.all():
            if placement.moved_out_on is None:
                overview.housing = placement
    person = overview.case.person
    overview.languages = [LANGUAGES.get(code, code) for code in person.languages or []]
    if person.interpreter_needed:
        overview.interpreter = LANGUAGES.get(person.interpreter_language, person.interpreter_language) or "—"
    overview.other_names = [
        name
        for name in person.names.all()
        if name.kind != "primary" and (overview.show_sensitive or name.kind not in SENSITIVE_NAME_KINDS)
    ]


@dataclass
class Dashboard:
    overdue_follow_ups: int
    due_this_week: int
    blocked: int
    overdue_list: list
    due_list: list
    blocked_list: list
    overdue_stages: int = 0
    overdue_stages_list: list = field(default_factory=list)
    pending_referrals: int = 0
    pending_referrals_list: list = field(default_factory=list)


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


def my_pending_referrals(user, today: datetime.date | None = None):
    """Referrals still waiting for the agency's answer, on my cases or made by me."""
    return rows_for_referrals(user).filter(
        Q(case__caseworker=user) | Q(referred_by=user), status=ReferralStatus.PENDING
    )


# The admin's "my work" filters (``?mine=...``), by the model they list.
MY_WORK = {
    "follow_ups": {"overdue": my_overdue_follow_ups},
    "stages": {"overdue": my_overdue_stages, "due_this_week": my_stages_due_this_week, "blocked": my_blocked_stages},
    "referrals": {"pending": my_pending_referrals},
}


def caseworker_dashboard(*, user, today: datetime.date | None = None, limit: int = 10) -> Dashboard:
    """My overdue follow-ups and stages, my stages due this week, my blocked stages (with their
    reasons) and my pending referrals: counts and short lists that say who each row is about."""
    follow_ups = my_overdue_follow_ups(user, today)
    overdue = my_overdue_stages(user, today)
    due = my_stages_due_this_week(user, today)
    blocked = my_blocked_stages(user)
    referrals = my_pending_referrals(user)

    def stages(queryset, order="due_date"):
        rows = with_who(queryset.select_related("stage_type"), user, case_path="enrolment__case")
        return list(rows.order_by(order, "pk")[:limit])

    return Dashboard(
        overdue_follow_ups=follow_ups.count(),
        due_this_week=due.count(),
        blocked=blocked.count(),
        overdue_stages=overdue.count(),
        pending_referrals=referrals.count(),
        overdue_list=list(
            with_who(follow_ups.select_related("stage__stage_type"), user, case_path="stage__enrolment__case").order_by(
                "due_date", "pk"
            )[:limit]
        ),
        overdue_stages_list=stages(overdue),
        due_list=stages(due),
        blocked_list=stages(blocked),
        pending_referrals_list=list(
            with_who(referrals.select_related("agency"), user, case_path="case").order_by("referred_on", "pk")[:limit]
        ),
    )


# --- the supervisor's desk ------------------------------------------------------------


@dataclass
class CaseworkerLoad:
    user: object
    open_cases: int = 0
    overdue_stages: int = 0
    overdue_follow_ups: int = 0
    blocked_stages: int = 0


@dataclass
class SupervisorDesk:
    programmes: list
    pending_closures: list
    caseload: list
    reports: list


def _counts(queryset, key: str) -> dict:
    return {row[key]: row["n"] for row in queryset.values(key).annotate(n=Count("pk", distinct=True)).order_by()}


def supervisor_desk(*, user, limit: int = 10) -> SupervisorDesk | None:
    """For a supervisor: the closure requests awaiting them, each caseworker's caseload and
    overdue work in the programmes they supervise, and the last stage reports. A fixed
    number of queries whatever the number of caseworkers, cases and reports."""
    from django.contrib.auth import get_user_model

    from casework.selectors import case_visible_to
    from core.roles import SUPERVISOR, programme_ids_for
    from programmes.models import ProgrammeMembership, ProgrammeMembershipRole, StageReport

    supervised = programme_ids_for(user, role=SUPERVISOR)
    if not supervised:
        return None
    visible = case_visible_to(user)
    cases = visible.filter(enrolments__programme_id__in=supervised).exclude(status=CaseStatus.CLOSED)
    stages = StageRecord.objects.filter(enrolment__programme_id__in=supervised, enrolment__case__in=visible)
    follow_ups = FollowUp.objects.filter(
        stage__enrolment__programme_id__in=supervised, stage__enrolment__case__in=visible
    )
    open_cases = _counts(cases, "caseworker")
    overdue_stages = _counts(stages.filter(rules.stage_overdue_q()), "enrolment__case__caseworker")
    blocked = _counts(stages.filter(rules.stage_pending_q(), status=StageStatus.BLOCKED), "enrolment__case__caseworker")
    overdue_follow_ups = _counts(follow_ups.filter(rules.follow_up_overdue_q()), "stage__enrolment__case__caseworker")
    staff = (
        get_user_model()
        .objects.filter(
            pk__in=ProgrammeMembership.objects.filter(
                programme_id__in=supervised, role=ProgrammeMembershipRole.CASEWORKER
            ).values("user_id")
        )
        .order_by("first_name", "last_name", "username")
    )
    caseload = [
        CaseworkerLoad(
            user=member,
            open_cases=open_cases.get(member.pk, 0),
            overdue_stages=overdue_stages.get(member.pk, 0),
            overdue_follow_ups=overdue_follow_ups.get(member.pk, 0),
            blocked_stages=blocked.get(member.pk, 0),
        )
        for member in staff
    ]
    pending = ClosureRequest.objects.filter(
        status=ClosureRequestStatus.PENDING,
        case__in=cases,
    ).exclude(requested_by=user)
    return SupervisorDesk(
        programmes=list(Programme.objects.filter(pk__in=supervised).order_by("name")),
        pending_closures=list(
            with_who(pending.select_related("requested_by"), user, case_path="case").order_by("requested_at")[:limit]
        ),
        caseload=caseload,
        reports=list(
            StageReport.objects.filter(programme_id__in=supervised)
            .select_related("programme")
            .defer("html", "text", "csv", "chart_png", "numbers")
            .order_by("-period_start", "programme__name")[:limit]
        ),
    )
