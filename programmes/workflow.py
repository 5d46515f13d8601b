"""Stage transitions and follow-up outcomes: the one way a stage plan moves.

The admin, the API and tasks all call these functions. Each runs in one
transaction, locks the stage row (``SELECT ... FOR UPDATE``) so that two
concurrent transitions cannot both succeed, checks the allowed-transition
table, records who did it in ``StageTransition``, bumps the stage's version
and schedules or cancels follow-ups from the stage type's interval.

No stage of a closed case or of an ended enrolment moves (``frozen_reason``):
closure and ``programmes.services.enrolment_end`` end the open stages through
these same functions before they mark the case or the enrolment ended.

The day an action happened (a start, a completion, a follow-up's ``done_on``;
today by default) must fall within a window around the programme's today,
checked in one place (``action_day``) for every service here that takes a
day (block, unblock, discontinue and reopen act on today):

- not after the programme's today. A transition records what has happened;
  what is intended goes in the stage's planned start and due date. "Today" is
  the programme's own calendar, so a caseworker in its time zone never meets
  the limit when recording the same day.
- not more than 366 days before it. Caseworkers do record late (a week in a
  camp without a connection, notes typed up after leave, a year's review), so
  the window covers a full year and a leap day; anything older is a
  correction of history for an administrator, not a caseworker's action.

Beyond being implausible, a far date breaks the arithmetic of the follow-up
schedule (``9999-12-30`` plus an interval overflows), so it is refused before
anything is written. The refusal is a ``ValidationError`` on the date's field,
which the API answers with 400 and the admin shows as a message; it never
quotes the date sent.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.context import acting_as
from core.errors import StaleVersion, TransitionNotAllowed
from casework.models import Case, CaseStatus
from programmes.models import (
    EnrolmentStatus,
    FollowUp,
    FollowUpKind,
    StageKind,
    StageRecord,
    StageStatus,
    StageTransition,
)
from core.visibility import require_visible

S = StageStatus


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    needs_note: bool  # an outcome (complete) or a reason (block, discontinue, reopen)


# The allowed transitions, in one table. The target of "unblock" depends on
# whether the stage had started; every other target is fixed.
TRANSITIONS = {
    "start": Transition((S.PLANNED,), needs_note=False),
    "complete": Transition((S.ACTIVE,), needs_note=True),
    "block": Transition((S.PLANNED, S.ACTIVE), needs_note=True),
    "unblock": Transition((S.BLOCKED,), needs_note=False),
    "discontinue": Transition((S.PLANNED, S.ACTIVE, S.BLOCKED), needs_note=True),
    "reopen": Transition((S.COMPLETED, S.DISCONTINUED), needs_note=True),
}

FOLLOW_UP_KIND_BY_STAGE = {
    StageKind.ACCOMMODATION: FollowUpKind.VISIT,
    StageKind.PSYCHOLOGICAL: FollowUpKind.SESSION,
    StageKind.SCHOOLING: FollowUpKind.SCHOOL_CHECK,
    StageKind.DOCUMENTS: FollowUpKind.DOCUMENT_APPOINTMENT,
    StageKind.HOUSING: FollowUpKind.VISIT,
    StageKind.EMPLOYMENT: FollowUpKind.CALL,
    StageKind.OTHER: FollowUpKind.CALL,
}


def frozen_reason(stage: StageRecord) -> str | None:
    """Why no transition may move this stage at all, or None.

    A stage of a closed case, or of an enrolment that has ended, stays as its
    closure or ending left it: closing a case and ending an enrolment discontinue
    the open stages themselves (``programmes.services.enrolment_end``) before the
    case or the enrolment is marked ended, so they are never refused here. Reads
    ``stage.enrolment.case``, which the case page has prefetched.
    """
    enrolment = stage.enrolment
    if enrolment.case.status == CaseStatus.CLOSED:
        return _("The case is closed; its stages no longer change.")
    if enrolment.status != EnrolmentStatus.ACTIVE:
        return _("The enrolment has ended; its stages no longer change.")
    return None


def allowed_actions(stage: StageRecord) -> list[str]:
    """The transitions a stage in its current status allows (for buttons and API hints)."""
    if frozen_reason(stage) is not None:
        return []
    return [name for name, t in TRANSITIONS.items() if stage.status in t.sources]


def stage_lock(stage_id: int, expected_version: int | None = None) -> StageRecord:
    """The stage, locked after its case (closure's order); 412 on a stale version, 409 if it is frozen."""
    # The case row first, then the stage: closure locks them in the same order, so a
    # transition racing a closure waits for it and then sees the case closed.
    case_id = StageRecord.objects.filter(pk=stage_id).values_list("enrolment__case_id", flat=True).get()
    list(Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True))
    stage = (
        StageRecord.objects.select_for_update(of=("self",))
        .select_related("stage_type", "enrolment__case", "enrolment__programme")
        .get(pk=stage_id)
    )
    if expected_version is not None and stage.version != expected_version:
        raise StaleVersion(_("The stage has changed since you loaded it; reload and try again."))
    reason = frozen_reason(stage)
    if reason is not None:
        raise TransitionNotAllowed(reason)
    return stage


def _check(stage: StageRecord, action: str, note: str) -> Transition:
    transition = TRANSITIONS[action]
    if stage.status not in transition.sources:
        raise TransitionNotAllowed(
            _("A stage that is %(status)s cannot be %(action)s.")
            % {"status": stage.get_status_display().lower(), "action": ACTION_PAST[action]}
        )
    if transition.needs_note and not (note or "").strip():
        field = "outcome" if action == "complete" else "reason"
        raise ValidationError({field: _("This field is required.")})
    return transition


ACTION_PAST = {
    "start": gettext_lazy("started"),
    "complete": gettext_lazy("completed"),
    "block": gettext_lazy("blocked"),
    "unblock": gettext_lazy("unblocked"),
    "discontinue": gettext_lazy("discontinued"),
    "reopen": gettext_lazy("reopened"),
}


def _record(stage: StageRecord, *, action: str, to_status: str, by, note: str = "") -> StageRecord:
    from_status = stage.status
    stage.status = to_status
    stage.version = F("version") + 1
    stage.full_clean(exclude=["version"])
    with acting_as(by):
        stage.save()
        stage.refresh_from_db(fields=["version", "updated_at"])
        StageTransition.objects.create(
            stage=stage, action=action, from_status=from_status, to_status=to_status, by=by, note=note
        )
    return stage


def _today(stage: StageRecord) -> datetime.date:
    return stage.enrolment.programme.local_today()


# How far back an action may be recorded (see the module docstring).
RECORDING_WINDOW_DAYS = 366


def action_day(stage: StageRecord, on: datetime.date | None, *, field: str = "on") -> datetime.date:
    """The day an action happened: ``on``, or the programme's today; refused outside the window."""
    today = _today(stage)
    if on is None:
        return today
    if on > today:
        raise ValidationError(
            {field: _("This day is in the future in the programme's calendar; record what has happened.")}
        )
    if on < today - datetime.timedelta(days=RECORDING_WINDOW_DAYS):
        raise ValidationError(
            {field: _("This day is more than a year ago; an administrator corrects history that old.")}
        )
    return on


def _assignee(stage: StageRecord):
    return stage.responsible_user or stage.enrolment.case.caseworker


def follow_up_schedule(*, stage: StageRecord, after: datetime.date) -> FollowUp | None:
    """Schedule the stage's next follow-up one interval after ``after``, unless one is open already."""
    interval = stage.stage_type.follow_up_interval_days
    if not interval or stage.status != S.ACTIVE:
        return None
    if stage.follow_ups.filter(done_on__isnull=True, cancelled_on__isnull=True).exists():
        return None
    return FollowUp.objects.create(
        stage=stage,
        kind=FOLLOW_UP_KIND_BY_STAGE[stage.stage_type.kind],
        due_date=after + datetime.timedelta(days=interval),
        assignee=_assignee(stage),
    )


def follow_ups_cancel(*, stage: StageRecord, on: datetime.date, by) -> None:
    """Cancel the stage's open follow-ups on ``on``: one audited save each, not a bulk update."""
    with acting_as(by):
        for follow_up in stage.follow_ups.select_for_update().filter(done_on__isnull=True, cancelled_on__isnull=True):
            follow_up.cancelled_on = on
            follow_up.save(update_fields=["cancelled_on", "updated_at"])


@transaction.atomic
def stage_start(
    *, stage_id: int, by, on: datetime.date | None = None, expected_version: int | None = None
) -> StageRecord:
    stage = stage_lock(stage_id, expected_version)
    _check(stage, "start", "")
    on = action_day(stage, on)
    stage.started_on = on
    _record(stage, action="start", to_status=S.ACTIVE, by=by)
    follow_up_schedule(stage=stage, after=on)
    return stage


@transaction.atomic
def stage_complete(
    *, stage_id: int, by, outcome: str, on: datetime.date | None = None, expected_version: int | None = None
) -> StageRecord:
    stage = stage_lock(stage_id, expected_version)
    _check(stage, "complete", outcome)
    on = action_day(stage, on)
    if on < stage.started_on:
        raise ValidationError({"on": _("A stage cannot be completed before it started.")})
    stage.completed_on = on
    stage.outcome = outcome.strip()
    _record(stage, action="complete", to_status=S.COMPLETED, by=by, note=stage.outcome)
    follow_ups_cancel(stage=stage, on=on, by=by)
    if stage.stage_type.kind == StageKind.ACCOMMODATION:
        _start_housing_after_centre(stage, by=by, on=on)
    return stage


def _start_housing_after_centre(stage: StageRecord, *, by, on: datetime.date) -> None:
    """Leaving the centre is moving in with the family: the housing stage starts that day."""
    housing = (
        StageRecord.objects.select_for_update()
        .filter(enrolment_id=stage.enrolment_id, stage_type__kind=StageKind.HOUSING, status=S.PLANNED)
        .values_list("pk", flat=True)
        .first()
    )
    if housing is not None:
        stage_start(stage_id=housing, by=by, on=on)


@transaction.atomic
def stage_block(*, stage_id: int, by, reason: str, expected_version: int | None = None) -> StageRecord:
    stage = stage_lock(stage_id, expected_version)
    _check(stage, "block", reason)
    stage.status_reason = reason.strip()[:300]
    return _record(stage, action="block", to_status=S.BLOCKED, by=by, note=stage.status_reason)


@transaction.atomic
def stage_unblock(*, stage_id: int, by, expected_version: int | None = None) -> StageRecord:
    stage = stage_lock(stage_id, expected_version)
    _check(stage, "unblock", "")
    stage.status_reason = ""
    target = S.ACTIVE if stage.started_on else S.PLANNED
    _record(stage, action="unblock", to_status=target, by=by)
    follow_up_schedule(stage=stage, after=_today(stage))
    return stage


@transaction.atomic
def stage_discontinue(*, stage_id: int, by, reason: str, expected_version: int | None = None) -> StageRecord:
    stage = stage_lock(stage_id, expected_version)
    _check(stage, "discontinue", reason)
    stage.status_reason = reason.strip()[:300]
    _record(stage, action="discontinue", to_status=S.DISCONTINUED, by=by, note=stage.status_reason)
    follow_ups_cancel(stage=stage, on=_today(stage), by=by)
    return stage


@transaction.atomic
def stage_reopen(*, stage_id: int, by, reason: str, expected_version: int | None = None) -> StageRecord:
    stage = stage_lock(stage_id, expected_version)
    _check(stage, "reopen", reason)
    today = _today(stage)
    stage.completed_on = None
    stage.started_on = stage.started_on or today
    stage.status_reason = reason.strip()[:300]
    _record(stage, action="reopen", to_status=S.ACTIVE, by=by, note=stage.status_reason)
    follow_up_schedule(stage=stage, after=today)
    return stage


STAGE_ACTIONS = {
    "start": stage_start,
    "complete": stage_complete,
    "block": stage_block,
    "unblock": stage_unblock,
    "discontinue": stage_discontinue,
    "reopen": stage_reopen,
}


@transaction.atomic
def follow_up_record(*, follow_up_id: int, by, outcome: str, done_on: datetime.date | None = None) -> FollowUp:
    """Record what happened at a follow-up, and schedule the next one where the stage type says so."""
    follow_up = (
        FollowUp.objects.select_for_update(of=("self",))
        .select_related("stage__stage_type", "stage__enrolment__programme", "stage__enrolment__case")
        .get(pk=follow_up_id)
    )
    if not follow_up.is_open:
        raise TransitionNotAllowed(_("This follow-up is already done or cancelled."))
    reason = frozen_reason(follow_up.stage)
    if reason is not None:
        raise TransitionNotAllowed(reason)
    if not (outcome or "").strip():
        raise ValidationError({"outcome": _("This field is required.")})
    stage = follow_up.stage
    done_on = action_day(stage, done_on, field="done_on")
    follow_up.done_on = done_on
    follow_up.outcome = outcome.strip()
    follow_up.full_clean()
    with acting_as(by):
        follow_up.save()
        # The stage changed for its readers (a sync client's next version); the version is
        # bookkeeping the audit trail leaves out, so this save writes no entry.
        stage.version = F("version") + 1
        stage.save(update_fields=["version", "updated_at"])
    stage.refresh_from_db(fields=["version", "status"])
    follow_up_schedule(stage=stage, after=done_on)
    return follow_up


# What the admin's forms may change of a follow-up directly (attribute names).
FOLLOW_UP_PLAN_FIELDS = ("kind", "due_date", "assignee_id")


def follow_up_save(*, follow_up: FollowUp, by) -> FollowUp:
    """Save a follow-up edited as a whole (the admin's forms, on its own page or its stage's).

    Two steps, each its own transaction. First its plan (kind, due date, assignee)
    is saved as given. Then an outcome recorded on an open follow-up (a done day,
    or an outcome alone: done today) goes through ``follow_up_record``, which
    schedules the next one, wherever the form was; if that is refused (a day in
    the future, no outcome) the error is raised and the plan stays saved, open.
    The done day, outcome and cancellation of a follow-up that is already done or
    cancelled stay as they were: they are history.
    """
    done_on, outcome = follow_up.done_on, follow_up.outcome
    newly_done = _follow_up_plan_save(follow_up, by=by) and (done_on is not None or bool((outcome or "").strip()))
    if newly_done:
        follow_up_record(follow_up_id=follow_up.pk, by=by, outcome=outcome, done_on=done_on)
        follow_up.refresh_from_db()
    return follow_up


@transaction.atomic
def _follow_up_plan_save(follow_up: FollowUp, *, by) -> bool:
    """Save the plan of a follow-up (new or not); True if it is open."""
    if follow_up.pk is None:
        require_visible(by, follow_up.stage)
        reason = frozen_reason(follow_up.stage)
        if reason is not None:
            raise TransitionNotAllowed(reason)
        follow_up.done_on, follow_up.outcome, follow_up.cancelled_on = None, "", None
        follow_up.full_clean()
        with acting_as(by):
            follow_up.save()
        return True
    current = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
    require_visible(by, current)
    # Only the plan is taken from the form; the stage and the history are not.
    follow_up.stage_id = current.stage_id
    follow_up.done_on, follow_up.outcome, follow_up.cancelled_on = (
        current.done_on,
        current.outcome,
        current.cancelled_on,
    )
    follow_up.full_clean()
    changed = [name for name in FOLLOW_UP_PLAN_FIELDS if getattr(follow_up, name) != getattr(current, name)]
    if changed:
        with acting_as(by):
            follow_up.save(update_fields=[*(name.removesuffix("_id") for name in changed), "updated_at"])
    return current.is_open
