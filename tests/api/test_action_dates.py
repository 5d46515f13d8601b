"""The day of a stage action or a follow-up outcome stays within the recording window
around the programme's today, whatever door sends it (here: the API)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from programmes import workflow
from programmes.models import FollowUp, StageRecord, StageStatus, StageTransition

pytestmark = pytest.mark.django_db


def stage_url(stage, action):
    return reverse("stage-detail", kwargs={"pk": stage.pk}) + f"{action}/"


def snapshot(stage):
    stage = StageRecord.objects.get(pk=stage.pk)
    return stage.status, stage.version, stage.started_on, stage.completed_on, stage.transitions.count()


def assert_refused_on_field(response, field):
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]


@pytest.mark.parametrize("day", ["9999-12-30", "2999-01-01"])
def test_stage_start_with_a_far_future_day_answers_400_and_changes_nothing(world, day):
    before = snapshot(world.stage)
    assert before[0] == StageStatus.PLANNED
    response = world.client("caseworker").post(stage_url(world.stage, "start"), {"on": day}, format="json")
    assert_refused_on_field(response, "on")
    assert day not in response.content.decode()
    assert snapshot(world.stage) == before
    assert not StageTransition.objects.filter(stage=world.stage).exists()


def test_stage_start_more_than_a_year_ago_answers_400(world):
    too_old = world.programme.local_today() - datetime.timedelta(days=workflow.RECORDING_WINDOW_DAYS + 1)
    before = snapshot(world.stage)
    response = world.client("caseworker").post(
        stage_url(world.stage, "start"), {"on": too_old.isoformat()}, format="json"
    )
    assert_refused_on_field(response, "on")
    assert snapshot(world.stage) == before


def test_stage_start_tomorrow_answers_400(world):
    tomorrow = world.programme.local_today() + datetime.timedelta(days=1)
    response = world.client("caseworker").post(
        stage_url(world.stage, "start"), {"on": tomorrow.isoformat()}, format="json"
    )
    assert_refused_on_field(response, "on")
    assert snapshot(world.stage)[0] == StageStatus.PLANNED


@pytest.mark.parametrize("days_ago", [0, 30, workflow.RECORDING_WINDOW_DAYS])
def test_stage_start_within_the_window_is_recorded(world, days_ago):
    day = world.programme.local_today() - datetime.timedelta(days=days_ago)
    response = world.client("caseworker").post(stage_url(world.stage, "start"), {"on": day.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    world.stage.refresh_from_db()
    assert world.stage.status == StageStatus.ACTIVE
    assert world.stage.started_on == day
    assert world.stage.transitions.get().action == "start"


def test_stage_complete_with_a_far_future_day_answers_400_and_changes_nothing(world):
    client = world.client("caseworker")
    started = world.programme.local_today() - datetime.timedelta(days=10)
    assert client.post(stage_url(world.stage, "start"), {"on": started.isoformat()}, format="json").status_code == 200
    before = snapshot(world.stage)
    for day in ("9999-12-30", "2999-01-01"):
        response = client.post(
            stage_url(world.stage, "complete"), {"outcome": "Done (test).", "on": day}, format="json"
        )
        assert_refused_on_field(response, "on")
    assert snapshot(world.stage) == before
    done = world.programme.local_today() - datetime.timedelta(days=1)
    response = client.post(
        stage_url(world.stage, "complete"), {"outcome": "Done (test).", "on": done.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
    world.stage.refresh_from_db()
    assert (world.stage.status, world.stage.completed_on) == (StageStatus.COMPLETED, done)


def test_follow_up_outcome_with_a_far_day_answers_400_and_changes_nothing(world):
    client = world.client("caseworker")
    url = reverse("follow-up-detail", kwargs={"pk": world.follow_up.pk}) + "record-outcome/"
    too_old = world.programme.local_today() - datetime.timedelta(days=workflow.RECORDING_WINDOW_DAYS + 1)
    for day in ("9999-12-30", "2999-01-01", too_old.isoformat()):
        response = client.post(url, {"outcome": "Held (test).", "done_on": day}, format="json")
        assert_refused_on_field(response, "done_on")
    world.follow_up.refresh_from_db()
    assert world.follow_up.done_on is None
    assert FollowUp.objects.filter(stage=world.stage).count() == 1
    response = client.post(
        url, {"outcome": "Held (test).", "done_on": world.programme.local_today().isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
