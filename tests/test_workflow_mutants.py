"""What a caseworker would notice of the workflow that the other workflow tests leave
open (found by mutation testing, README "Mutation testing"): the words of a refusal,
unblocking after a follow-up recorded while blocked, a centre exit when the housing
stage has already moved, and a follow-up recorded or planned through the service the
admin's forms call (``follow_up_save``), not only through the admin."""

import datetime
import threading
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from audit.models import AuditEntry
from casework.models import Case, CaseStatus
from lifecycle import closure
from core.errors import NotVisible, StaleVersion, TransitionNotAllowed
from programmes import workflow
from programmes.models import FollowUp, StageRecord, StageStatus
from tests.test_workflow import bring_to, run, stage_of

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def open_follow_ups(stage):
    return FollowUp.objects.filter(stage=stage, done_on__isnull=True, cancelled_on__isnull=True)


def actors_of(row, changed: str = "") -> set:
    """Who the audit trail names for the entries of ``row`` (those that changed ``changed``)."""
    entries = AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(row), object_id=row.pk)
    if changed:
        entries = entries.filter(changes__icontains=changed)
    assert entries.exists()
    return set(entries.values_list("actor", flat=True))


def today_of(stage):
    return stage.enrolment.programme.local_today()


def interval_of(stage):
    return datetime.timedelta(days=stage.stage_type.follow_up_interval_days)


# --- the words of a refusal -------------------------------------------------------------------------

# Written out independently of the code's table: the status a stage is in, the action
# refused there, and how the refusal names them.
REFUSALS = [
    ("active", "start", "A stage that is active cannot be started."),
    ("planned", "complete", "A stage that is planned cannot be completed."),
    ("completed", "block", "A stage that is completed cannot be blocked."),
    ("active", "unblock", "A stage that is active cannot be unblocked."),
    ("completed", "discontinue", "A stage that is completed cannot be discontinued."),
    ("active", "reopen", "A stage that is active cannot be reopened."),
]


@pytest.mark.parametrize("status, action, message", REFUSALS)
def test_a_refused_transition_says_what_the_stage_is_and_what_was_refused(case, caseworker, status, action, message):
    stage = bring_to(stage_of(case), status, caseworker)
    with pytest.raises(TransitionNotAllowed) as refused:
        run(action, stage, caseworker)
    assert str(refused.value) == message


# --- reopening -------------------------------------------------------------------------------------


def test_reopening_a_completed_stage_keeps_the_day_it_started(case, caseworker):
    stage = stage_of(case)
    started_on = today_of(stage) - 20 * DAY
    run("start", stage, caseworker, on=started_on)
    run("complete", stage, caseworker, on=today_of(stage) - 2 * DAY)
    run("reopen", stage, caseworker)
    stage.refresh_from_db()
    assert (stage.status, stage.started_on, stage.completed_on) == (StageStatus.ACTIVE, started_on, None)


@pytest.mark.parametrize("action, status", [("block", "active"), ("discontinue", "active"), ("reopen", "completed")])
def test_a_long_reason_is_kept_to_its_first_300_characters(case, caseworker, action, status):
    stage = bring_to(stage_of(case), status, caseworker)
    reason = "Waiting for the family court's decision (test). " * 10
    run(action, stage, caseworker, reason=reason)
    stage.refresh_from_db()
    assert stage.status_reason == reason.strip()[:300]
    assert len(stage.status_reason) == 300


# --- unblocking -----------------------------------------------------------------------------------


def test_unblocking_clears_the_reason_it_was_blocked_for(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    run("block", stage, caseworker, reason="Waiting for papers (test).")
    stage.refresh_from_db()
    assert stage.status_reason == "Waiting for papers (test)."
    run("unblock", stage, caseworker)
    stage.refresh_from_db()
    assert (stage.status, stage.status_reason) == (StageStatus.ACTIVE, "")


def test_a_follow_up_held_while_blocked_is_followed_by_the_next_once_unblocked(case, caseworker):
    """While blocked a stage gets no new follow-up; unblocked, it gets the next one, an
    interval from the day it was unblocked."""
    stage = bring_to(stage_of(case), "active", caseworker)
    run("block", stage, caseworker)
    held = open_follow_ups(stage).get()
    workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Held all the same (test).")
    assert not open_follow_ups(stage).exists()
    run("unblock", stage, caseworker)
    upcoming = open_follow_ups(stage).get()
    assert upcoming.due_date == today_of(stage) + interval_of(stage)
    assert upcoming.assignee == caseworker


# --- the centre and the housing stage -------------------------------------------------------------


@pytest.mark.parametrize("housing_status", ["active", "blocked", "discontinued"])
def test_leaving_the_centre_leaves_a_housing_stage_that_has_already_moved_as_it_is(case, caseworker, housing_status):
    housing = bring_to(stage_of(case, "housing"), housing_status, caseworker)
    before = (housing.status, housing.version, housing.transitions.count())
    centre = stage_of(case, "accommodation")
    run("start", centre, caseworker, on=case.arrival_date)
    run("complete", centre, caseworker, on=case.arrival_date + 3 * DAY)
    centre.refresh_from_db()
    housing.refresh_from_db()
    assert centre.status == StageStatus.COMPLETED
    assert (housing.status, housing.version, housing.transitions.count()) == before


# --- recording a follow-up (the service) -----------------------------------------------------------


def test_a_follow_up_recorded_twice_is_refused_the_second_time_and_says_why(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Session held (test).")
    with pytest.raises(TransitionNotAllowed) as refused:
        workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Again (test).")
    assert str(refused.value) == "This follow-up is already done or cancelled."
    held.refresh_from_db()
    assert held.outcome == "Session held (test)."


def test_a_follow_up_of_a_closed_case_cannot_be_recorded(case, caseworker):
    """Closure cancels open follow-ups; one left open (data from before that rule) stays
    as it is once the case is closed."""
    stage = bring_to(stage_of(case), "active", caseworker)
    left_open = open_follow_ups(stage).get()
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLOSED, closed_on=today_of(stage))
    with pytest.raises(TransitionNotAllowed) as refused:
        workflow.follow_up_record(follow_up_id=left_open.pk, by=caseworker, outcome="Late (test).")
    assert str(refused.value) == "The case is closed; its stages no longer change."
    left_open.refresh_from_db()
    assert left_open.is_open and left_open.outcome == ""


def test_a_follow_up_refused_for_its_day_or_outcome_names_the_field_to_correct(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    with pytest.raises(ValidationError) as refused:
        workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="x", done_on=today_of(stage) + DAY)
    assert list(refused.value.message_dict) == ["done_on"]
    for blank in ("", "  "):
        with pytest.raises(ValidationError) as refused:
            workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome=blank)
        assert refused.value.message_dict == {"outcome": ["This field is required."]}
    held.refresh_from_db()
    assert held.is_open


def test_recording_a_follow_up_is_audited_under_the_user_who_recorded_it(case, caseworker, supervisor):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    workflow.follow_up_record(follow_up_id=held.pk, by=supervisor, outcome="Session held (test).")
    assert actors_of(held, changed="done_on") == {supervisor.pk}


# --- planning and recording through follow_up_save (what the admin's forms call) --------------------


def test_a_follow_up_planned_with_its_outcome_is_recorded_on_the_day_given_and_the_next_planned(
    case, caseworker, supervisor
):
    stage = bring_to(stage_of(case), "active", caseworker)
    open_follow_ups(stage).update(cancelled_on=today_of(stage))  # nothing planned yet
    done_on = today_of(stage) - 2 * DAY
    planned = FollowUp(
        stage=stage, kind="session", due_date=done_on, done_on=done_on, outcome="Met at the school (test)."
    )
    workflow.follow_up_save(follow_up=planned, by=supervisor)
    planned.refresh_from_db()
    assert (planned.done_on, planned.outcome) == (done_on, "Met at the school (test).")
    assert actors_of(planned) == {supervisor.pk}
    assert open_follow_ups(stage).get().due_date == done_on + interval_of(stage)


def test_a_follow_up_planned_for_a_stage_the_user_cannot_see_is_refused(case, caseworker, other_caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    before = FollowUp.objects.count()
    with pytest.raises(NotVisible):
        workflow.follow_up_save(
            follow_up=FollowUp(stage=stage, kind="session", due_date=today_of(stage)), by=other_caseworker
        )
    assert FollowUp.objects.count() == before


def test_a_follow_up_planned_for_a_stage_of_a_closed_case_is_refused(case, caseworker, supervisor):
    stage = bring_to(stage_of(case), "active", caseworker)
    request = closure.case_closure_request(case_id=case.pk, by=caseworker, reason="Programme finished (test).")
    closure.case_closure_decide(request_id=request.pk, by=supervisor, approve=True)
    before = FollowUp.objects.count()
    with pytest.raises(TransitionNotAllowed) as refused:
        workflow.follow_up_save(
            follow_up=FollowUp(stage=stage, kind="session", due_date=today_of(stage)), by=caseworker
        )
    assert str(refused.value) == "The case is closed; its stages no longer change."
    assert FollowUp.objects.count() == before


def test_a_new_follow_up_starts_open_whatever_history_the_form_carried(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    planned = FollowUp(stage=stage, kind="call", due_date=today_of(stage) + 5 * DAY, cancelled_on=today_of(stage))
    workflow.follow_up_save(follow_up=planned, by=caseworker)
    planned.refresh_from_db()
    assert planned.is_open and (planned.done_on, planned.outcome, planned.cancelled_on) == (None, "", None)
    assert actors_of(planned) == {caseworker.pk}


def test_editing_the_plan_of_an_open_follow_up_saves_the_plan_under_the_editor(case, caseworker, supervisor):
    stage = bring_to(stage_of(case), "active", caseworker)
    upcoming = open_follow_ups(stage).get()
    due, stage_id = upcoming.due_date, upcoming.stage_id
    edited = FollowUp.objects.get(pk=upcoming.pk)
    edited.due_date = due + 3 * DAY
    edited.assignee = supervisor
    workflow.follow_up_save(follow_up=edited, by=supervisor)
    upcoming.refresh_from_db()
    assert (upcoming.due_date, upcoming.assignee, upcoming.stage_id) == (due + 3 * DAY, supervisor, stage_id)
    assert upcoming.is_open and open_follow_ups(stage).count() == 1
    edit = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(FollowUp), object_id=upcoming.pk
    ).latest("id")
    assert edit.actor == supervisor and "due_date" in str(edit.changes)


def test_an_outcome_typed_on_an_open_follow_up_is_recorded_on_the_day_given_under_the_editor(
    case, caseworker, supervisor
):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    done_on = today_of(stage) - 3 * DAY
    edited = FollowUp.objects.get(pk=held.pk)
    edited.done_on, edited.outcome = done_on, "Session held (test)."
    workflow.follow_up_save(follow_up=edited, by=supervisor)
    held.refresh_from_db()
    assert (held.done_on, held.outcome) == (done_on, "Session held (test).")
    assert edited.done_on == done_on  # the form's object shows what was recorded
    assert open_follow_ups(stage).get().due_date == done_on + interval_of(stage)
    assert actors_of(held, changed="done_on") == {supervisor.pk}


def test_an_outcome_alone_on_an_open_follow_up_is_recorded_as_done_today(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    edited = FollowUp.objects.get(pk=held.pk)
    edited.outcome = "Phoned instead (test)."
    workflow.follow_up_save(follow_up=edited, by=caseworker)
    held.refresh_from_db()
    assert (held.done_on, held.outcome) == (today_of(stage), "Phoned instead (test).")


def test_a_done_day_without_an_outcome_is_refused_and_the_plan_stays_open(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    edited = FollowUp.objects.get(pk=held.pk)
    edited.done_on = today_of(stage)
    edited.due_date = held.due_date + DAY
    with pytest.raises(ValidationError) as refused:
        workflow.follow_up_save(follow_up=edited, by=caseworker)
    assert "outcome" in refused.value.message_dict
    held.refresh_from_db()
    assert held.is_open and held.due_date == edited.due_date


def test_the_history_of_a_done_follow_up_stays_as_it_was_when_its_plan_is_edited(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Session held (test).")
    held.refresh_from_db()
    history = (held.done_on, held.outcome, held.cancelled_on)
    other_stage = stage_of(case, "housing")
    edited = FollowUp.objects.get(pk=held.pk)
    edited.due_date = held.due_date - DAY
    edited.done_on, edited.outcome, edited.stage = history[0] - DAY, "Rewritten (test).", other_stage
    workflow.follow_up_save(follow_up=edited, by=caseworker)
    held.refresh_from_db()
    assert (held.done_on, held.outcome, held.cancelled_on) == history
    assert (held.stage_id, held.due_date) == (stage.pk, edited.due_date)
    assert open_follow_ups(stage).count() == 1


def test_a_follow_up_of_another_programme_cannot_be_edited(case, caseworker, other_caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    upcoming = open_follow_ups(stage).get()
    edited = FollowUp.objects.get(pk=upcoming.pk)
    edited.due_date = upcoming.due_date + DAY
    with pytest.raises(NotVisible):
        workflow.follow_up_save(follow_up=edited, by=other_caseworker)
    upcoming.refresh_from_db()
    assert upcoming.due_date == edited.due_date - DAY


# --- how far back an action may be recorded --------------------------------------------------------


@pytest.mark.parametrize("days_back, accepted", [(366, True), (367, False)])
def test_a_follow_up_may_be_recorded_up_to_a_year_and_a_leap_day_late(case, caseworker, days_back, accepted):
    stage = bring_to(stage_of(case), "active", caseworker)
    held = open_follow_ups(stage).get()
    done_on = today_of(stage) - days_back * DAY
    if accepted:
        workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Typed up late (test).", done_on=done_on)
        held.refresh_from_db()
        assert held.done_on == done_on
    else:
        with pytest.raises(ValidationError) as refused:
            workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Too late (test).", done_on=done_on)
        assert list(refused.value.message_dict) == ["done_on"]
        held.refresh_from_db()
        assert held.is_open


# --- found by the workflow's full run on both cores (README, "Mutation testing") --------------------


@pytest.mark.parametrize("action", ["complete", "discontinue"])
def test_follow_ups_cancelled_by_ending_a_stage_are_audited_under_who_ended_it(case, caseworker, supervisor, action):
    stage = bring_to(stage_of(case), "active", caseworker)
    planned = open_follow_ups(stage).get()
    run(action, stage, supervisor)
    planned.refresh_from_db()
    assert planned.cancelled_on == today_of(stage)
    assert actors_of(planned, changed="cancelled_on") == {supervisor.pk}


def test_completing_before_the_day_it_started_says_so_on_the_day_given(case, caseworker):
    stage = stage_of(case)
    started_on = today_of(stage) - 5 * DAY
    run("start", stage, caseworker, on=started_on)
    with pytest.raises(ValidationError) as refused:
        run("complete", stage, caseworker, on=started_on - DAY)
    assert refused.value.message_dict == {"on": ["A stage cannot be completed before it started."]}


@pytest.mark.parametrize(
    "offset, message",
    [
        (DAY, "This day is in the future in the programme's calendar; record what has happened."),
        (-367 * DAY, "This day is more than a year ago; an administrator corrects history that old."),
    ],
)
def test_a_day_outside_the_recording_window_is_refused_in_words_on_the_day_given(case, caseworker, offset, message):
    stage = stage_of(case)
    with pytest.raises(ValidationError) as refused:
        run("start", stage, caseworker, on=today_of(stage) + offset)
    assert refused.value.message_dict == {"on": [message]}
    stage.refresh_from_db()
    assert stage.status == StageStatus.PLANNED


def test_a_transition_without_a_note_leaves_none_in_the_history(case, caseworker):
    """Starting and unblocking take no note: the history shows none (only outcomes and reasons)."""
    stage = bring_to(stage_of(case), "blocked", caseworker)
    run("unblock", stage, caseworker)
    notes = dict(stage.transitions.values_list("action", "note"))
    assert notes == {"start": "", "block": "Reason (test).", "unblock": ""}


def test_follow_ups_go_to_the_stage_s_responsible_person_or_else_to_the_caseworker(case, caseworker, supervisor):
    unassigned, delegated = stage_of(case), stage_of(case, "documents")
    StageRecord.objects.filter(pk=unassigned.pk).update(responsible_user=None)
    StageRecord.objects.filter(pk=delegated.pk).update(responsible_user=supervisor)
    run("start", unassigned, caseworker)
    run("start", delegated, caseworker)
    assert open_follow_ups(unassigned).get().assignee == caseworker
    assert open_follow_ups(delegated).get().assignee == supervisor


def test_a_transition_and_a_follow_up_recorded_take_a_fixed_number_of_queries(
    case, caseworker, django_assert_num_queries
):
    """The stage is read with its type, case and programme in one query, and so is the
    follow-up with its stage: no query per related row read along the way. (One stage
    goes first, so that the caches every request shares are warm.)"""
    first, second = stage_of(case), stage_of(case, "documents")
    run("start", first, caseworker)
    with django_assert_num_queries(TRANSITION_QUERIES):
        run("start", second, caseworker)
    workflow.follow_up_record(follow_up_id=open_follow_ups(first).get().pk, by=caseworker, outcome="Held (test).")
    held = open_follow_ups(second).get()
    with django_assert_num_queries(RECORDING_QUERIES):
        workflow.follow_up_record(follow_up_id=held.pk, by=caseworker, outcome="Session held (test).")


# Counted on SQLite and PostgreSQL alike (the transaction's savepoints included).
TRANSITION_QUERIES = 36
RECORDING_QUERIES = 27


def test_a_follow_up_cancelled_earlier_keeps_the_day_it_was_cancelled(case, caseworker):
    stage = stage_of(case)
    run("start", stage, caseworker, on=today_of(stage) - 10 * DAY)
    first = open_follow_ups(stage).get()
    run("complete", stage, caseworker, on=today_of(stage) - 3 * DAY)
    run("reopen", stage, caseworker)
    run("discontinue", stage, caseworker)
    first.refresh_from_db()
    assert first.cancelled_on == today_of(stage) - 3 * DAY
    assert not open_follow_ups(stage).exists()


@pytest.mark.django_db(transaction=True)
def test_a_transition_waits_for_whoever_holds_its_case_as_closure_does(case, caseworker):
    """Closure locks the case row before its stages; a transition locks the same row first,
    so it waits for a closure under way (and then finds the case closed) rather than
    changing a stage of a case being closed."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    stage = stage_of(case)
    holding = threading.Event()

    def hold_the_case():
        try:
            with transaction.atomic():
                list(Case.objects.select_for_update().filter(pk=case.pk).values_list("pk", flat=True))
                holding.set()
                time.sleep(1.5)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_case)
    holder.start()
    assert holding.wait(10)
    started = time.monotonic()
    run("start", stage, caseworker)
    waited = time.monotonic() - started
    holder.join()
    assert waited >= 1.0, waited
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE


def test_a_stale_version_is_refused_in_words_that_say_to_reload(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    with pytest.raises(StaleVersion) as refused:
        run("complete", stage, caseworker, expected_version=stage.version - 1)
    assert str(refused.value) == "The stage has changed since you loaded it; reload and try again."


def test_a_stage_of_an_ended_enrolment_is_refused_in_words_that_say_why(case, caseworker):
    from programmes import services
    from programmes.models import EnrolmentStatus

    stage = stage_of(case)
    services.enrolment_end(
        enrolment_id=stage.enrolment_id, status=EnrolmentStatus.WITHDRAWN, by=caseworker, reason="Moved (test)."
    )
    stage.refresh_from_db()
    with pytest.raises(TransitionNotAllowed) as refused:
        run("reopen", stage, caseworker)
    assert str(refused.value) == "The enrolment has ended; its stages no longer change."


@pytest.mark.parametrize(
    "status, action, field",
    [("active", "complete", "outcome"), ("active", "block", "reason"), ("planned", "discontinue", "reason")]
    + [("completed", "reopen", "reason")],
)
@pytest.mark.parametrize("missing", [None, ""])
def test_a_reason_or_outcome_left_out_is_refused_as_required(case, caseworker, status, action, field, missing):
    """Left out altogether (None, as a caller that omits it sends) or blank, the same refusal."""
    stage = bring_to(stage_of(case), status, caseworker)
    version = stage.version
    with pytest.raises(ValidationError) as refused:
        run(action, stage, caseworker, **{field: missing})
    assert refused.value.message_dict == {field: ["This field is required."]}
    stage.refresh_from_db()
    assert (stage.status, stage.version) == (status, version)
