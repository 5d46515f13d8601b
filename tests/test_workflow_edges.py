"""The edges of the stage workflow that tests/test_workflow.py leaves open: a stale
version on every transition, the notes kept in the history, follow-ups around
discontinuing and completing, the housing stage after the centre, the audit
actor, and the actions offered for each status."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from core.errors import StaleVersion
from notifications.models import Notification
from programmes import workflow
from programmes.models import FollowUp, StageRecord, StageStatus, StageTransition
from programmes.reminders import reminders_materialize
from tests import factories as f
from tests.test_workflow import bring_to, run, stage_of

pytestmark = pytest.mark.django_db


def open_follow_ups(stage):
    return FollowUp.objects.filter(stage=stage, done_on__isnull=True, cancelled_on__isnull=True)


def snapshot(stage):
    """What a reader of the stage would notice had changed."""
    stage.refresh_from_db()
    return (
        stage.status,
        stage.version,
        stage.started_on,
        stage.completed_on,
        stage.status_reason,
        StageTransition.objects.filter(stage=stage).count(),
        sorted(FollowUp.objects.filter(stage=stage).values_list("id", "due_date", "done_on", "cancelled_on")),
    )


# --- a stale version is refused by every transition -----------------------------------------------


@pytest.mark.parametrize(
    "action, status",
    [
        ("start", "planned"),
        ("complete", "active"),
        ("block", "active"),
        ("unblock", "blocked"),
        ("discontinue", "active"),
        ("reopen", "completed"),
    ],
)
def test_a_transition_from_a_stale_page_is_refused_and_changes_nothing(case, caseworker, action, status):
    stage = bring_to(stage_of(case), status, caseworker)
    before = snapshot(stage)
    with pytest.raises(StaleVersion):
        run(action, stage, caseworker, expected_version=stage.version - 1)
    assert snapshot(stage) == before
    # The page reloaded, the same action goes through.
    run(action, stage, caseworker, expected_version=stage.version)


# --- the history keeps what was said ----------------------------------------------------------------


@pytest.mark.parametrize(
    "action, status, field",
    [
        ("complete", "active", "outcome"),
        ("block", "active", "reason"),
        ("discontinue", "active", "reason"),
        ("reopen", "completed", "reason"),
    ],
)
def test_the_history_keeps_the_outcome_or_reason_of_each_transition(case, caseworker, action, status, field):
    stage = bring_to(stage_of(case), status, caseworker)
    run(action, stage, caseworker, **{field: "  Said at the transition (test).  "})
    last = StageTransition.objects.filter(stage=stage).latest("id")
    assert (last.action, last.note) == (action, "Said at the transition (test).")


def test_reopening_without_a_reason_is_refused(case, caseworker):
    stage = bring_to(stage_of(case), "completed", caseworker)
    before = snapshot(stage)
    with pytest.raises(ValidationError) as error:
        run("reopen", stage, caseworker, reason="   ")
    assert "reason" in error.value.message_dict
    assert snapshot(stage) == before


# --- follow-ups -----------------------------------------------------------------------------------


def test_a_discontinued_stage_has_no_open_follow_up_and_sends_no_reminder(case, caseworker):
    stage = bring_to(stage_of(case), "active", caseworker)
    due = open_follow_ups(stage).get().due_date
    run("discontinue", stage, caseworker)
    assert not open_follow_ups(stage).exists()
    reminders_materialize(
        now=datetime.datetime.combine(due + datetime.timedelta(days=1), datetime.time(9), tzinfo=datetime.UTC)
    )
    assert not Notification.objects.filter(subject_type="follow_up").exists()


def test_completing_after_a_recorded_follow_up_cancels_the_next_one_and_keeps_the_record(case, caseworker, programme):
    stage = stage_of(case)
    today = programme.local_today()
    run("start", stage, caseworker, on=today - datetime.timedelta(days=20))
    held = open_follow_ups(stage).get()
    workflow.follow_up_record(
        follow_up_id=held.pk, by=caseworker, outcome="Session held (test).", done_on=today - datetime.timedelta(days=6)
    )
    upcoming = open_follow_ups(stage).get()
    run("complete", stage, caseworker, on=today)
    assert not open_follow_ups(stage).exists()
    upcoming.refresh_from_db()
    held.refresh_from_db()
    assert upcoming.cancelled_on == today and upcoming.done_on is None
    assert held.done_on == today - datetime.timedelta(days=6) and held.cancelled_on is None
    assert held.outcome == "Session held (test)."


def test_a_stage_unblocked_back_to_planned_gets_no_follow_up(case, caseworker):
    stage = bring_to(stage_of(case), "planned", caseworker)
    run("block", stage, caseworker)
    assert run("unblock", stage, caseworker).status == StageStatus.PLANNED
    assert not FollowUp.objects.filter(stage=stage).exists()


def test_recording_a_follow_up_makes_a_page_loaded_before_it_stale(case, caseworker):
    """Recording a follow-up is a change to its stage: the version moves by one, so a
    page loaded before it must reload, and a page loaded after it goes through."""
    stage = bring_to(stage_of(case), "active", caseworker)
    loaded = stage.version
    workflow.follow_up_record(
        follow_up_id=open_follow_ups(stage).get().pk, by=caseworker, outcome="Session held (test)."
    )
    stage.refresh_from_db()
    assert stage.version == loaded + 1
    with pytest.raises(StaleVersion):
        run("complete", stage, caseworker, expected_version=loaded)
    assert run("complete", stage, caseworker, expected_version=loaded + 1).status == StageStatus.COMPLETED


# --- the centre and the housing stage -------------------------------------------------------------


def test_leaving_the_centre_starts_the_housing_of_that_case_only(programme, caseworker):
    neighbour = f.CaseFactory(caseworker=caseworker, reference="N-0010")
    f.enrol(neighbour, programme, by=caseworker)
    case = f.CaseFactory(caseworker=caseworker, reference="N-0011")
    f.enrol(case, programme, by=caseworker)
    centre = stage_of(case, "accommodation")
    run("start", centre, caseworker, on=case.arrival_date)
    run("complete", centre, caseworker, on=case.arrival_date + datetime.timedelta(days=3))
    assert stage_of(case, "housing").status == StageStatus.ACTIVE
    neighbours_housing = stage_of(neighbour, "housing")
    assert neighbours_housing.status == StageStatus.PLANNED
    assert not neighbours_housing.transitions.exists()


# --- the audit trail ------------------------------------------------------------------------------


def test_the_audit_trail_names_the_user_who_moved_the_stage(case, caseworker, supervisor):
    stage = stage_of(case)
    run("start", stage, supervisor)
    entries = AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(StageRecord), object_id=stage.pk)
    assert entries.exists()
    assert set(entries.values_list("actor", flat=True)) == {supervisor.pk}


# --- the actions offered -------------------------------------------------------------------------

# Written out independently of the code's table.
OFFERED = {
    "planned": {"start", "block", "discontinue"},
    "active": {"complete", "block", "discontinue"},
    "blocked": {"unblock", "discontinue"},
    "completed": {"reopen"},
    "discontinued": {"reopen"},
}


@pytest.mark.parametrize("status", sorted(OFFERED))
def test_each_status_offers_exactly_the_actions_it_allows(case, caseworker, status):
    stage = bring_to(stage_of(case), status, caseworker)
    offered = workflow.allowed_actions(stage)
    assert len(offered) == len(set(offered))
    assert set(offered) == OFFERED[status]
