"""Every state change goes through one service, through the API door too (issue #12)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from lifecycle import closure
from casework.models import CaseStatus
from programmes import workflow
from programmes.models import Programme, StageRecord, StageStatus, StageTransition

pytestmark = pytest.mark.django_db


def stage_url(stage, action):
    return reverse("stage-detail", kwargs={"pk": stage.pk}) + f"{action}/"


def schedules_of(programme):
    return PeriodicTask.objects.filter(name=f"Stage report: {programme.code}")


# --- 5. A programme created through the API gets no report schedule ----------------------------


def test_programme_created_through_the_api_gets_its_report_schedule(world):
    response = world.client("administrator").post(
        reverse("programme-list"),
        {"code": "east", "name": "East (test)", "country": "KZ", "time_zone": "Asia/Almaty", "is_active": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    programme = Programme.objects.get(pk=response.json()["id"])
    task = schedules_of(programme).get()
    assert str(task.crontab.timezone) == "Asia/Almaty"
    assert str(programme.pk) in task.kwargs


def test_programme_edited_through_the_api_keeps_one_report_schedule(world):
    client = world.client("administrator")
    url = reverse("programme-detail", kwargs={"pk": world.programme.pk})
    etag = client.get(url)["ETag"]
    response = client.patch(url, {"name": "North renamed (test)"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    world.programme.refresh_from_db()
    assert world.programme.name == "North renamed (test)"
    assert schedules_of(world.programme).count() == 1


# --- 3. Stage actions on a closed case ------------------------------------------------------


@pytest.fixture
def closed_world(world):
    request = closure.case_closure_request(case_id=world.case.pk, by=world.users["caseworker"], reason="Done (test).")
    closure.case_closure_decide(request_id=request.pk, by=world.users["supervisor"], approve=True)
    world.case.refresh_from_db()
    assert world.case.status == CaseStatus.CLOSED
    return world


@pytest.mark.parametrize(
    "action, body",
    [
        ("start", {}),
        ("block", {"reason": "Waiting (test)."}),
        ("reopen", {"reason": "Again (test)."}),
        ("discontinue", {"reason": "Stop (test)."}),
    ],
)
def test_stage_action_on_a_closed_case_answers_409(closed_world, action, body):
    stage = StageRecord.objects.get(pk=closed_world.stage.pk)
    assert stage.status == StageStatus.DISCONTINUED
    before = StageTransition.objects.count()
    response = closed_world.client("caseworker").post(stage_url(stage, action), body, format="json")
    assert response.status_code == 409, response.content
    stage.refresh_from_db()
    assert stage.status == StageStatus.DISCONTINUED and StageTransition.objects.count() == before


def test_stage_action_on_an_open_case_still_works(world):
    response = world.client("caseworker").post(
        stage_url(world.stage, "block"), {"reason": "Waiting (test)."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert StageRecord.objects.get(pk=world.stage.pk).status == StageStatus.BLOCKED


def test_closure_leaves_no_stage_of_the_case_actionable(closed_world):
    for stage in StageRecord.objects.filter(enrolment__case=closed_world.case).select_related("enrolment__case"):
        assert workflow.allowed_actions(stage) == []
        assert stage.status in (StageStatus.COMPLETED, StageStatus.DISCONTINUED)
