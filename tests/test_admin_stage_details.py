"""The stage page's detail inlines go through ``programmes.details``: a school placement
recorded there starts the schooling stage and ends with a day and a reason, never by
deletion; a document request moves by its actions, its status and number never typed."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from core.roles import role_groups_sync
from programmes.models import DocumentRequest, DocumentRequestStatus, SchoolPlacement, StageStatus
from tests import factories as f
from tests.admin_forms import admin_form_data
from tests.test_admin import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


@pytest.fixture
def child(programme, caseworker):
    case = f.CaseFactory(
        person=f.PersonFactory(date_of_birth=f.born_years_ago(9)), caseworker=caseworker, reference="N-0031"
    )
    f.enrol(case, programme, by=caseworker)
    return case


def _stage(case, kind):
    return case.enrolments.get().stages.get(stage_type__kind=kind)


def _formset(response, model):
    return next(inline.formset for inline in response.context["inline_admin_formsets"] if inline.formset.model is model)


def test_a_placement_recorded_on_the_stage_page_starts_schooling(client, caseworker, child):
    staff_login(client, caseworker)
    stage = _stage(child, "schooling")
    assert stage.status == StageStatus.PLANNED
    url = reverse("admin:programmes_stagerecord_change", args=[stage.pk])
    response = client.get(url)
    prefix = _formset(response, SchoolPlacement).prefix
    day = stage.enrolment.programme.local_today() - datetime.timedelta(days=1)
    data = admin_form_data(
        response,
        **{
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-0-institution": "School No. 3 (test)",
            f"{prefix}-0-level": "school",
            f"{prefix}-0-grade": "3",
            f"{prefix}-0-enrolled_on": day.isoformat(),
        },
    )
    assert client.post(url, data).status_code == 302
    placement = SchoolPlacement.objects.get(stage=stage)
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE and stage.started_on == day
    assert AuditEntry.objects.filter(object_id=str(placement.pk), actor=caseworker).exists()


def test_a_placement_ends_with_a_day_and_a_reason_never_deleted(client, caseworker, child):
    staff_login(client, caseworker)
    stage = _stage(child, "schooling")
    day = stage.enrolment.programme.local_today() - datetime.timedelta(days=5)
    placement = SchoolPlacement.objects.create(
        stage=stage, institution="School (test)", level="school", enrolled_on=day
    )
    url = reverse("admin:programmes_stagerecord_change", args=[stage.pk])
    response = client.get(url)
    page = response.content.decode()
    prefix = _formset(response, SchoolPlacement).forms[0].prefix
    assert f'name="{prefix}-DELETE"' not in page
    assert f'name="{prefix}-left_on"' not in page  # only the end does that

    # A day without a reason is refused by the form.
    left = day + datetime.timedelta(days=2)
    refused = client.post(url, admin_form_data(response, **{f"{prefix}-end_on": left.isoformat()}))
    assert refused.status_code == 200
    placement.refresh_from_db()
    assert placement.left_on is None

    # A forged delete is ignored.
    client.post(url, admin_form_data(response, **{f"{prefix}-DELETE": "on"}))
    assert SchoolPlacement.objects.filter(pk=placement.pk).exists()

    ended = client.post(
        url, admin_form_data(response, **{f"{prefix}-end_on": left.isoformat(), f"{prefix}-end_reason": "Moved"})
    )
    assert ended.status_code == 302
    placement.refresh_from_db()
    assert (placement.left_on, placement.left_reason) == (left, "Moved")


def test_a_document_request_moves_by_its_actions_only(client, caseworker, child):
    staff_login(client, caseworker)
    stage = _stage(child, "documents")
    day = stage.enrolment.programme.local_today() - datetime.timedelta(days=5)
    document = DocumentRequest.objects.create(stage=stage, document_type="passport", requested_on=day)
    url = reverse("admin:programmes_stagerecord_change", args=[stage.pk])
    response = client.get(url)
    page = response.content.decode()
    prefix = _formset(response, DocumentRequest).forms[0].prefix
    for field in ("status", "number", "issued_on", "DELETE"):
        assert f'name="{prefix}-{field}"' not in page, field

    # Typed values are ignored: only the actions move it.
    client.post(url, admin_form_data(response, **{f"{prefix}-status": "issued", f"{prefix}-number": "N-FORGED"}))
    document.refresh_from_db()
    assert (document.status, document.number) == (DocumentRequestStatus.REQUESTED, "")

    # Issuing needs a day.
    refused = client.post(url, admin_form_data(response, **{f"{prefix}-move": "issue"}))
    assert refused.status_code == 200
    document.refresh_from_db()
    assert document.status == DocumentRequestStatus.REQUESTED

    issued_on = day + datetime.timedelta(days=3)
    issued = client.post(
        url,
        admin_form_data(
            response,
            **{
                f"{prefix}-move": "issue",
                f"{prefix}-move_on": issued_on.isoformat(),
                f"{prefix}-move_number": "N 0123456",
            },
        ),
    )
    assert issued.status_code == 302
    document.refresh_from_db()
    assert (document.status, document.issued_on, document.number) == (
        DocumentRequestStatus.ISSUED,
        issued_on,
        "N 0123456",
    )
    # Once issued, it cannot be refused (the service's 409, as a message).
    response = client.get(url)
    again = client.post(
        url,
        admin_form_data(response, **{f"{prefix}-move": "refuse", f"{prefix}-move_reason": "Late"}),
        follow=True,
    )
    assert "not recorded" in again.content.decode()
    document.refresh_from_db()
    assert document.status == DocumentRequestStatus.ISSUED
