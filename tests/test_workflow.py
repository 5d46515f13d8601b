"""Stage transitions and follow-up outcomes through the one workflow module."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from core.errors import StaleVersion, TransitionNotAllowed
from programmes import workflow
from programmes.models import FollowUp, StageRecord, StageStatus, StageTransition

pytestmark = pytest.mark.django_db

# The expected workflow, written out independently of the code's table.
ALLOWED = {
    ("planned", "start"): "active",
    ("planned", "block"): "blocked",
    ("planned", "discontinue"): "discontinued",
    ("active", "complete"): "completed",
    ("active", "block"): "blocked",
    ("active", "discontinue"): "discontinued",
    ("blocked", "unblock"): "active",  # the stage had started
    ("blocked", "discontinue"): "discontinued",
    ("completed", "reopen"): "active",
    ("discontinued", "reopen"): "active",
}
ACTIONS = ["start", "complete", "block", "unblock", "discontinue", "reopen"]
STATUSES = ["planned", "active", "blocked", "completed", "discontinued"]


def stage_of(case, code="psychological"):
    return StageRecord.objects.select_related("stage_type").get(enrolment__case=case, stage_type__code=code)


def bring_to(stage, status, user):
    """Move a planned stage to ``status`` through the workflow."""
    path = {
        "planned": [],
        "active": ["start"],
        "blocked": ["start", "block"],
        "completed": ["start", "complete"],
        "discontinued": ["start", "discontinue"],
    }[status]
    for action in path:
        run(action, stage, user)
    stage.refresh_from_db()
    assert stage.status == status
    return stage


def run(action, stage, user, **extra):
    kwargs = {"stage_id": stage.pk, "by": user}
    if action == "complete":
        kwargs["outcome"] = "Sessions completed (test)."
    if action in ("block", "discontinue", "reopen"):
        kwargs["reason"] = "Reason (test)."
    kwargs.update(extra)
    return workflow.STAGE_ACTIONS[action](**kwargs)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition_is_allowed_or_refused(case, caseworker, status, action):
    stage = bring_to(stage_of(case), status, caseworker)
    history_before = StageTransition.objects.filter(stage=stage).count()
    version_before = stage.version
    if (status, action) in ALLOWED:
        result = run(action, stage, caseworker)
        assert result.status == ALLOWED[(status, action)]
        last = StageTransition.objects.filter(stage=stage).latest("id")
        assert (last.action, last.from_status, last.to_status, last.by) == (action, status, result.status, caseworker)
        assert result.version == version_before + 1
    else:
        with pytest.raises(TransitionNotAllowed):
            run(action, stage, caseworker)
        stage.refresh_from_db()
        assert stage.status == status
        assert stage.version == version_before
        assert StageTransition.objects.filter(stage=stage).count() == history_before


def test_unblocking_a_stage_that_never_started_returns_it_to_planned(case, caseworker):
    stage = bring_to(stage_of(case), "planned", caseworker)
    run("block", stage, caseworker)
    assert run("unblock", stage, caseworker).status == StageStatus.PLANNED


@pytest.mark.parametrize("action, field", [("complete", "outcome"), ("block", "reason"), ("discontinue", "reason")])
def test_transitions_that_need_a_reason_refuse_without_one(case, caseworker, action, field):
    stage = bring_to(stage_of(case), "active", caseworker)
    with pytest.raises(ValidationError) as error:
        run(action, stage, caseworker, **{field: "   "})
    assert field in error.value.message_dict
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE


def test_stale_version_is_refused(case, caseworker):
    stage = stage_of(case)
    loaded_version = stage.version
    run("start", stage, caseworker)
    with pytest.raises(StaleVersion):
        run("block", stage, caseworker, expected_version=loaded_version)
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE


def test_starting_schedules_follow_ups_from_the_interval(case, caseworker):
    stage = stage_of(case)  # psychological care: every 14 days
    started = datetime.date(2026, 11, 2)
    run("start", stage, caseworker, on=started)
    follow_up = FollowUp.objects.get(stage=stage)
    assert follow_up.due_date == started + datetime.timedelta(days=14)
    assert follow_up.kind == "session"
    assert follow_up.assignee == caseworker


def test_recording_an_outcome_schedules_the_next_follow_up(case, caseworker):
    stage = stage_of(case)
    run("start", stage, caseworker, on=datetime.date(2026, 11, 1))
    first = FollowUp.objects.get(stage=stage)
    done_on = datetime.date(2026, 11, 16)
    workflow.follow_up_record(follow_up_id=first.pk, by=caseworker, outcome="Session held (test).", done_on=done_on)
    upcoming = FollowUp.objects.get(stage=stage, done_on__isnull=True)
    assert upcoming.due_date == done_on + datetime.timedelta(days=14)
    with pytest.raises(TransitionNotAllowed):
        workflow.follow_up_record(follow_up_id=first.pk, by=caseworker, outcome="Again (test).")


def test_follow_up_outcome_is_validated(case, caseworker, programme):
    stage = stage_of(case)
    run("start", stage, caseworker)
    follow_up = FollowUp.objects.get(stage=stage)
    with pytest.raises(ValidationError, match="outcome"):
        workflow.follow_up_record(follow_up_id=follow_up.pk, by=caseworker, outcome="")
    tomorrow = programme.local_today() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError, match="future"):
        workflow.follow_up_record(follow_up_id=follow_up.pk, by=caseworker, outcome="x", done_on=tomorrow)
    follow_up.refresh_from_db()
    assert follow_up.done_on is None
    assert FollowUp.objects.filter(stage=stage).count() == 1


def test_ending_a_stage_cancels_its_open_follow_ups(case, caseworker):
    stage = stage_of(case)
    run("start", stage, caseworker)
    run("complete", stage, caseworker)
    follow_up = FollowUp.objects.get(stage=stage)
    assert follow_up.cancelled_on is not None and follow_up.done_on is None
    run("reopen", stage, caseworker)
    assert FollowUp.objects.filter(stage=stage, cancelled_on__isnull=True, done_on__isnull=True).count() == 1


def test_completing_the_centre_month_starts_housing(case, caseworker):
    centre = stage_of(case, "accommodation")
    run("start", centre, caseworker, on=case.arrival_date)
    exit_day = case.arrival_date + datetime.timedelta(days=5)
    run("complete", centre, caseworker, on=exit_day)
    housing = stage_of(case, "housing")
    assert housing.status == StageStatus.ACTIVE
    assert housing.started_on == exit_day
    assert housing.transitions.get().by == caseworker
    assert FollowUp.objects.filter(stage=housing).exists()


def test_completing_before_the_start_is_refused(case, caseworker):
    stage = stage_of(case)
    run("start", stage, caseworker, on=datetime.date(2026, 11, 10))
    with pytest.raises(ValidationError):
        run("complete", stage, caseworker, on=datetime.date(2026, 11, 9))
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_on_one_stage_do_not_both_succeed(case, caseworker):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    stage = bring_to(stage_of(case), "active", caseworker)
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt(action):
        from django.db import connections

        try:
            barrier.wait()
            run(action, stage, caseworker)
            outcomes.append("ok")
        except TransitionNotAllowed:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("complete", "discontinue")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    stage.refresh_from_db()
    assert StageTransition.objects.filter(stage=stage, from_status="active").count() == 1
    assert stage.status in ("completed", "discontinued")
