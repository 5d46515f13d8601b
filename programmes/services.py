"""Writes that matter for programmes: saving a programme, installing a stage catalogue,
enrolling a case, ending an enrolment and recording a family's centre exit.

Stage transitions themselves are in ``programmes.workflow``; what here changes a
stage goes through it, so that every stage change leaves its transition row.

Every function here is keyword-only, runs in one transaction, validates with
``full_clean()`` and relies on the database constraints for the races that
validation cannot see.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audit.context import acting_as
from core.errors import TransitionNotAllowed
from casework.models import Case, CaseStatus
from programmes import reports, workflow
from programmes.enrolled import cases_mark_enrolled
from programmes.models import (
    OPEN_STAGE_STATUSES,
    AccommodationStay,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    Programme,
    StageKind,
    StageRecord,
    StageStatus,
    StageTrack,
    StageType,
)
from core.visibility import assignable_staff, require_all_visible, require_visible, staff_of

STANDARD_CATALOGUE = Path(settings.BASE_DIR) / "fixtures" / "stage_catalogue.json"


def stage_catalogue_install(*, programme: Programme, path: Path = STANDARD_CATALOGUE) -> list[StageType]:
    """Create or update the programme's stage types from a catalogue file (idempotent).

    An entry's ``referral_purposes`` says which referrals cover the stage (what a
    partner agency may see and do); a new stage type whose entry does not say gets
    the standard ones of its kind, an existing one keeps its own.
    """
    from programmes.models import DEFAULT_REFERRAL_PURPOSES

    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    installed = []
    with transaction.atomic():
        for entry in entries:
            entry = dict(entry)
            code = entry.pop("code")
            stage_type = StageType.objects.filter(programme=programme, code=code).first() or StageType(
                programme=programme, code=code
            )
            if stage_type._state.adding and "referral_purposes" not in entry:
                entry["referral_purposes"] = list(DEFAULT_REFERRAL_PURPOSES.get(entry.get("kind"), ()))
            for field, value in entry.items():
                setattr(stage_type, field, value)
            stage_type.full_clean()
            stage_type.save()
            installed.append(stage_type)
    return installed


def stage_plan_build(
    *, enrolment: Enrolment, stage_types: list[StageType] | None = None, start: datetime.date | None = None
) -> list[StageRecord]:
    """The stage records an enrolment should start with (unsaved).

    A stage type applies by the person's age on the day of enrolment (schooling
    by age band, employment for adults). Dates count from the arrival date, so
    supervised accommodation is due 30 days after arrival, or from ``start`` (a
    case handed over from another programme is planned from the day it arrives in
    the receiving one). ``stage_types`` may be passed in (ordered) to plan many
    enrolments without a query each.
    """
    case = enrolment.case
    age = case.person.age_on(enrolment.enrolled_on)
    if stage_types is None:
        stage_types = list(enrolment.programme.stage_types.filter(is_active=True).order_by("position", "code"))
    stages = []
    for stage_type in stage_types:
        # The detention and community tracks are planned when custody begins or ends (``stage_plan_extend``).
        if stage_type.track != StageTrack.STANDARD or not stage_type.applies_to_age(age):
            continue
        planned_start = (start or case.arrival_date) + datetime.timedelta(days=stage_type.start_offset_days)
        stages.append(
            StageRecord(
                enrolment=enrolment,
                stage_type=stage_type,
                planned_start=planned_start,
                due_date=planned_start + datetime.timedelta(days=stage_type.default_duration_days),
                responsible_user=case.caseworker,
            )
        )
    return stages


def enrolment_create(
    *, case: Case, programme: Programme, by=None, enrolled_on: datetime.date | None = None
) -> Enrolment:
    """Enrol a case in a programme and generate its stage plan, in one transaction.

    The enrolling user must see the case as staff and work in the programme: a forged
    id of another programme's case (or a programme the user has no role in) is
    answered as a missing row. A closed case is not enrolled (409): it is reopened first.
    """
    return enrolments_create(cases=[case], programme=programme, by=by, enrolled_on=enrolled_on)[0]


def enrolments_create(
    *, cases: list[Case], programme: Programme, by=None, enrolled_on: datetime.date | None = None
) -> list[Enrolment]:
    """``enrolment_create`` for many cases at once (an intake registering families): the
    same rules, checked for every case in a few queries, the enrolments and their stage
    plans written with ``bulk_create`` and audited as ``save()`` audits a row."""
    require_all_visible(by, cases)
    return enrolments_write(cases=cases, programme=programme, by=by, enrolled_on=enrolled_on)


def enrolments_write(
    *, cases: list[Case], programme: Programme, by=None, enrolled_on: datetime.date | None = None
) -> list[Enrolment]:
    """``enrolments_create`` for cases the caller itself has just created for ``by`` in
    the same transaction (an intake): they are not rows ``by`` handed in, so their
    visibility is not asked again (a request reads the cases a user sees once, before
    they existed). Everything else is checked as ``enrolments_create`` checks it."""
    from audit.bulk import log_created

    require_visible(by, programme)
    enrolled_on = enrolled_on or programme.local_today()
    enrolments = []
    for case in cases:
        enrolment = Enrolment(case=case, programme=programme, enrolled_on=enrolled_on, enrolled_by=by)
        # The case, the programme and the user were checked above; the one-active-enrolment
        # rule is checked for all the cases below, and the database holds it against races.
        enrolment.full_clean(exclude=["case", "programme", "enrolled_by"], validate_constraints=False)
        enrolments.append(enrolment)
    ids = [case.pk for case in cases]
    if Enrolment.objects.filter(case_id__in=ids, programme=programme, status=EnrolmentStatus.ACTIVE).exists():
        raise ValidationError({NON_FIELD_ERRORS: [_("This case already has an active enrolment in this programme.")]})
    stage_types = list(programme.stage_types.filter(is_active=True).order_by("position", "code"))
    try:
        with transaction.atomic(), acting_as(by):
            # Locked as closure locks it: a case closed meanwhile is not enrolled.
            if Case.objects.select_for_update().filter(pk__in=ids, status=CaseStatus.CLOSED).exists():
                raise TransitionNotAllowed(_("A closed case is reopened before it is enrolled again."))
            Enrolment.objects.bulk_create(enrolments)
            cases_mark_enrolled(ids)
            StageRecord.objects.bulk_create(
                [
                    stage
                    for enrolment in enrolments
                    for stage in stage_plan_build(enrolment=enrolment, stage_types=stage_types)
                ]
            )
            log_created(enrolments)
    except IntegrityError as exc:
        # Another request enrolled the same case between validation and insert.
        raise ValidationError(_("This case already has an active enrolment in this programme.")) from exc
    return enrolments


def stage_plan_extend(
    *, enrolment: Enrolment, track: str, start: datetime.date, by, until: dict[str, datetime.date] | None = None
) -> list[StageRecord]:
    """Add to an active enrolment's plan the stages of one track of its catalogue (detention
    or community) that apply to the person and that it does not hold yet, planned from
    ``start`` (a stage's due date from its duration, or ``until[code]`` when given); each
    row saved on its own, audited as ``by``. Returns the stages added."""
    until = until or {}
    held = set(enrolment.stages.values_list("stage_type_id", flat=True))
    age = enrolment.case.person.age_on(start)
    added = []
    stage_types = enrolment.programme.stage_types.filter(is_active=True, track=track).order_by("position", "code")
    with acting_as(by):
        for stage_type in stage_types:
            if stage_type.pk in held or not stage_type.applies_to_age(age):
                continue
            planned_start = start + datetime.timedelta(days=stage_type.start_offset_days)
            due = until.get(stage_type.code) or planned_start + datetime.timedelta(
                days=stage_type.default_duration_days
            )
            stage = StageRecord(
                enrolment=enrolment,
                stage_type=stage_type,
                planned_start=planned_start,
                due_date=max(due, planned_start),
                responsible_user=enrolment.case.caseworker,
            )
            stage.full_clean()
            stage.save()
            added.append(stage)
    return added


# --- Programmes -----------------------------------------------------------------------


@transaction.atomic
def programme_save(*, programme: Programme, by) -> Programme:
    """Create or change a programme, from any door: validated, audited, and with its
    report schedule installed (kept if it has one)."""
    if programme.pk is not None:
        require_visible(by, programme)
    programme.full_clean()
    with acting_as(by):
        programme.save()
    reports.report_schedule_ensure(programme=programme)
    return programme


# --- Ending an enrolment ----------------------------------------------------------------

ENDED_ENROLMENT_STATUSES = (EnrolmentStatus.COMPLETED, EnrolmentStatus.WITHDRAWN)

# The reason written on each stage an ending discontinues (no details of the person).
STAGE_REASON_ON_END = {
    EnrolmentStatus.COMPLETED: "The enrolment was completed.",
    EnrolmentStatus.WITHDRAWN: "The enrolment was withdrawn.",
}
STAGE_REASON_ON_CLOSURE = "The case was closed."


def _lock_case_of(enrolment_id: int) -> None:
    # The case row first, as the workflow and closure lock it: no deadlock between them.
    case_id = Enrolment.objects.filter(pk=enrolment_id).values_list("case_id", flat=True).get()
    list(Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True))


def _end(enrolment: Enrolment, *, status: str, by, on: datetime.date, reason: str) -> Enrolment:
    """End a locked, active enrolment: its open stages discontinued through the workflow
    (a transition row each, their follow-ups cancelled), any follow-up still open cancelled,
    then the enrolment itself; every row saved one by one, audited as ``by``."""
    for stage_id in enrolment.stages.filter(status__in=OPEN_STAGE_STATUSES).order_by("pk").values_list("pk", flat=True):
        workflow.stage_discontinue(stage_id=stage_id, by=by, reason=reason)
    for stage in enrolment.stages.filter(
        follow_ups__done_on__isnull=True, follow_ups__cancelled_on__isnull=True
    ).distinct():
        workflow.follow_ups_cancel(stage=stage, on=on, by=by)
    enrolment.status = status
    enrolment.ended_on = on
    enrolment.full_clean()
    with acting_as(by):
        enrolment.save(update_fields=["status", "ended_on"])
    return enrolment


@transaction.atomic
def enrolment_end(
    *, enrolment_id: int, status: str, by, on: datetime.date | None = None, reason: str = ""
) -> Enrolment:
    """Complete or withdraw an enrolment: the one way it ends (the case's closure too).

    Its open stages are discontinued (each with its transition row) and its open
    follow-ups cancelled, in the same transaction. ``on`` is the programme's today
    by default and may not be in its future. An enrolment the user may not see is
    answered as a missing one; one that has already ended is refused (409).
    """
    if status not in ENDED_ENROLMENT_STATUSES:
        raise ValidationError({"status": _("An enrolment ends as completed or withdrawn.")})
    _lock_case_of(enrolment_id)
    enrolment = Enrolment.objects.select_for_update(of=("self",)).select_related("programme").get(pk=enrolment_id)
    require_visible(by, enrolment)
    if enrolment.status != EnrolmentStatus.ACTIVE:
        raise TransitionNotAllowed(_("This enrolment has already ended."))
    today = enrolment.programme.local_today()
    on = on or today
    if on > today:
        raise ValidationError(
            {"on": _("This day is in the future in the programme's calendar; record what has happened.")}
        )
    return _end(enrolment, status=status, by=by, on=on, reason=(reason or "").strip() or STAGE_REASON_ON_END[status])


def enrolments_end_on_closure(*, case: Case, by, on: datetime.date) -> list[Enrolment]:
    """The case is being closed (``lifecycle.closure``, which has locked it and checked
    ``by``): each active enrolment completes on ``on`` (or the day it began, if later),
    through the same steps as ``enrolment_end``, whichever programme it is in."""
    ended = []
    enrolments = Enrolment.objects.select_for_update().filter(case=case, status=EnrolmentStatus.ACTIVE).order_by("pk")
    for enrolment in enrolments:
        ended.append(
            _end(
                enrolment,
                status=EnrolmentStatus.COMPLETED,
                by=by,
                on=max(on, enrolment.enrolled_on),
                reason=STAGE_REASON_ON_CLOSURE,
            )
        )
    return ended


# --- Handing an enrolment over to another programme ------------------------------------

#: How the receiving programme takes the stage plan over (``enrolment_transfer``).
CARRY_OPEN_STAGES = "carry_open"
RESTART_PLAN = "restart"
STAGE_REASON_ON_TRANSFER = "The case was transferred to another programme."
STAGE_REASON_NOT_IN_CATALOGUE = "The receiving programme's catalogue has no stage of this type."


def enrolment_transfer(
    *, case: Case, from_programme: Programme, to_programme: Programme, by, carry_over: str
) -> Enrolment:
    """Hand a case's active enrolment in ``from_programme`` over to ``to_programme`` (``lifecycle.transfer``, which
    has locked the case and checked ``by``), in the caller's transaction.

    The receiving programme gets a new enrolment with the stage plan of its own catalogue
    (``stage_plan_build``), planned from the day of the transfer. With ``CARRY_OPEN_STAGES`` the open stages move to it with their
    status, dates, details and follow-ups, each to the receiving stage type of the same code
    (one the receiving catalogue lacks is discontinued), and the receiving plan adds only the
    stages of types the person has not been through; with ``RESTART_PLAN`` the open stages are
    discontinued through the workflow and the receiving plan starts whole. The sending
    enrolment then ends as transferred (``_end``), which ends the sending staff's access.
    """
    if carry_over not in (CARRY_OPEN_STAGES, RESTART_PLAN):
        raise ValidationError({"carry_over": _("Choose how the stage plan is taken over.")})
    sending = (
        Enrolment.objects.select_for_update(of=("self",))
        .select_related("programme")
        .filter(case=case, programme=from_programme, status=EnrolmentStatus.ACTIVE)
        .first()
    )
    if sending is None:
        raise TransitionNotAllowed(_("The case has no active enrolment to hand over."))
    if Enrolment.objects.filter(case=case, programme=to_programme, status=EnrolmentStatus.ACTIVE).exists():
        raise TransitionNotAllowed(_("The case is already enrolled in the receiving programme."))
    today = to_programme.local_today()
    receiving = Enrolment(case=case, programme=to_programme, enrolled_on=max(today, case.arrival_date), enrolled_by=by)
    receiving.full_clean()
    with acting_as(by):
        receiving.save()
    by_code = {t.code: t for t in to_programme.stage_types.filter(is_active=True)}
    been_through = set()
    if carry_over == CARRY_OPEN_STAGES:
        been_through = set(sending.stages.values_list("stage_type__code", flat=True))
        open_stages = sending.stages.filter(status__in=OPEN_STAGE_STATUSES).select_related("stage_type").order_by("pk")
        for stage in open_stages:
            target = by_code.get(stage.stage_type.code)
            if target is None:
                workflow.stage_discontinue(stage_id=stage.pk, by=by, reason=STAGE_REASON_NOT_IN_CATALOGUE)
                continue
            stage.enrolment = receiving
            stage.stage_type = target
            stage.full_clean(exclude=["version"])
            with acting_as(by):
                stage.save(update_fields=["enrolment", "stage_type", "updated_at"])
    planned = [
        s
        for s in stage_plan_build(enrolment=receiving, start=receiving.enrolled_on)
        if s.stage_type.code not in been_through
    ]
    with acting_as(by):
        for stage in planned:
            stage.full_clean()
            stage.save()
    on = max(sending.programme.local_today(), sending.enrolled_on)
    _end(sending, status=EnrolmentStatus.TRANSFERRED, by=by, on=on, reason=STAGE_REASON_ON_TRANSFER)
    return receiving


# --- A family's centre exit ---------------------------------------------------------------

CENTRE_EXIT_OUTCOME = "Left the centre with the family."


@transaction.atomic
def centre_exit_record(*, case_ids, by) -> list[str]:
    """Record that the people of these cases left the centre today, together.

    A family leaves together: all of it is recorded, or none. Each supervised
    accommodation stage that is active completes through the workflow (which starts
    the housing stage) and its open stay ends. If any of them is blocked, nothing is
    recorded and the refusal names the blocked cases by reference, so the caseworker
    unblocks (or discontinues) them first; a stage not yet started is someone not in
    the centre and is left alone. Returns the references of the cases recorded.
    """
    stages = list(
        StageRecord.objects.filter(
            enrolment__case_id__in=list(case_ids),
            enrolment__status=EnrolmentStatus.ACTIVE,
            stage_type__kind=StageKind.ACCOMMODATION,
            status__in=(StageStatus.ACTIVE, StageStatus.BLOCKED),
        )
        .select_related("enrolment__case", "enrolment__programme")
        .order_by("enrolment__case__reference", "pk")
    )
    for stage in stages:
        require_visible(by, stage)
    blocked = sorted({stage.enrolment.case.reference for stage in stages if stage.status == StageStatus.BLOCKED})
    if blocked:
        raise TransitionNotAllowed(
            _("The centre stage is blocked for %(cases)s; unblock or discontinue it, then record the exit again.")
            % {"cases": ", ".join(blocked)}
        )
    done = []
    for stage in stages:
        today = stage.enrolment.programme.local_today()
        workflow.stage_complete(stage_id=stage.pk, by=by, outcome=CENTRE_EXIT_OUTCOME, on=today)
        with acting_as(by):
            for stay in AccommodationStay.objects.select_for_update().filter(stage=stage, exited_on__isnull=True):
                stay.exited_on = max(today, stay.arrived_on)
                stay.full_clean()
                stay.save(update_fields=["exited_on"])
        done.append(stage.enrolment.case.reference)
    return done


def case_assign(*, case_id: int, caseworker, by) -> Case:
    """Make ``caseworker`` responsible for a case, and hand them its open work.

    The new caseworker works in one of the case's programmes (or, for a case not yet
    enrolled, in a programme of the assigning user); never a partner agency's
    account. The case's open stages and open follow-ups that were the previous
    caseworker's move with it, in one transaction, each change audited.
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        require_visible(by, case)
        previous = case.caseworker_id
        new = caseworker.pk if caseworker is not None else None
        if new == previous:
            return case
        if caseworker is not None and not caseworker_choices(case=case, by=by).filter(pk=new).exists():
            raise ValidationError({"caseworker": _("The caseworker must work in one of the case's programmes.")})
        case.caseworker = caseworker
        with acting_as(by):
            case.save(update_fields=["caseworker", "updated_at"])
            if previous is not None and new is not None:
                stages = StageRecord.objects.filter(
                    enrolment__case=case, status__in=OPEN_STAGE_STATUSES, responsible_user_id=previous
                )
                for stage in stages:
                    stage.responsible_user_id = new
                    stage.save(update_fields=["responsible_user", "updated_at"])
                follow_ups = FollowUp.objects.filter(
                    stage__enrolment__case=case, done_on__isnull=True, cancelled_on__isnull=True, assignee_id=previous
                )
                for follow_up in follow_ups:
                    follow_up.assignee_id = new
                    follow_up.save(update_fields=["assignee", "updated_at"])
    return case


def caseworker_choices(*, case: Case | None, by):
    """Accounts that may be a case's caseworker: the staff of the case's programmes, or
    for a case not yet enrolled, of the programmes the assigning user works in."""
    if case is not None and case.pk:
        programme_ids = list(case.enrolments.values_list("programme_id", flat=True).distinct())
        if programme_ids:
            return staff_of(programme_ids)
    if by is None:
        return staff_of(Programme.objects.values_list("pk", flat=True))
    return assignable_staff(by)
