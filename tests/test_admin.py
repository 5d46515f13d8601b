"""The admin is usable, refuses bad input with a clear message and is scoped like the API."""

import datetime

import pytest
from django.urls import reverse

from casework.models import Person
from core.roles import role_groups_sync
from programmes.models import Enrolment, StageRecord
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


def staff_login(client, user):
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="Caseworkers"))
    force_login(client, user)
    return client


def person_form(**overrides):
    data = {
        "given_name": "Testgiven",
        "family_name": "Samplova",
        "patronymic": "",
        "sex": "female",
        "date_of_birth": "2015-04-01",
        "place_of_birth": "",
        "nationality": "KZ",
        "languages": '["ar"]',
    }
    for prefix in ("names", "identifiers", "family_memberships"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(overrides)
    return data


def test_person_born_in_the_future_is_refused_in_the_admin(client, administrator):
    force_login(client, administrator)
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    response = client.post(reverse("admin:casework_person_add"), person_form(date_of_birth=tomorrow))
    assert response.status_code == 200
    assert "The date of birth cannot be in the future." in response.content.decode()
    assert not Person.objects.exists()


def test_person_with_spellings_is_saved_in_the_admin(client, administrator):
    force_login(client, administrator)
    data = person_form(
        **{
            "names-TOTAL_FORMS": "2",
            "names-0-full_name": "Айша Сэмплова",
            "names-0-script": "cyrillic",
            "names-0-kind": "spelling",
            "names-1-full_name": "عائشة",
            "names-1-script": "arabic",
            "names-1-kind": "spelling",
        }
    )
    response = client.post(reverse("admin:casework_person_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    person = Person.objects.get()
    assert sorted(person.names.values_list("full_name", flat=True)) == ["Айша Сэмплова", "عائشة"]
    # Search finds the person by a spelling in another script.
    response = client.get(reverse("admin:casework_person_changelist"), {"q": "عائشة"})
    assert "Testgiven Samplova" in response.content.decode()


def test_stage_due_before_start_is_refused_in_the_admin(client, administrator, case):
    force_login(client, administrator)
    stage = StageRecord.objects.filter(enrolment__case=case, stage_type__code="housing").get()
    data = {
        "status": "planned",
        "planned_start": stage.planned_start.isoformat(),
        "due_date": (stage.planned_start - datetime.timedelta(days=3)).isoformat(),
        "started_on": "",
        "completed_on": "",
        "responsible_user": "",
        "responsible_agency": "",
        "outcome": "",
        "status_reason": "",
        "housing_placements-TOTAL_FORMS": "0",
        "housing_placements-INITIAL_FORMS": "0",
        "follow_ups-TOTAL_FORMS": "0",
        "follow_ups-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:programmes_stagerecord_change", args=[stage.pk]), data)
    assert response.status_code == 200
    assert "The due date cannot be before the planned start." in response.content.decode()
    stage.refresh_from_db()
    assert stage.due_date > stage.planned_start


def test_enrolling_in_the_admin_generates_the_stage_plan(client, administrator, programme):
    from tests import factories as f

    force_login(client, administrator)
    case = f.CaseFactory()
    response = client.post(
        reverse("admin:programmes_enrolment_add"),
        {
            "case": case.pk,
            "programme": programme.pk,
            "status": "active",
            "enrolled_on": case.arrival_date.isoformat(),
            "ended_on": "",
            "stages-TOTAL_FORMS": "0",
            "stages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    enrolment = Enrolment.objects.get(case=case)
    assert enrolment.enrolled_by == administrator
    assert enrolment.stages.count() == 5


def test_every_admin_page_opens(client, administrator, case):
    force_login(client, administrator)
    from django.contrib import admin

    def opens(url):
        # A one-page tool (Register arrivals) sends its list to its page: that page must open.
        response = client.get(url)
        if response.status_code == 302 and response.url.startswith("/admin/") and response.url != "/admin/":
            response = client.get(response.url)
        return response.status_code

    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert opens(url) == 200, url
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert opens(change) == 200, change


def test_caseworker_sees_only_their_programmes_cases(client, caseworker, case, other_case):
    staff_login(client, caseworker)
    response = client.get(reverse("admin:casework_case_changelist"))
    # A caseworker's list opens on "my cases".
    assert response.status_code == 302 and response.url.endswith("?mine=yes")
    for query in ("?mine=yes", "?mine=all"):
        body = client.get(reverse("admin:casework_case_changelist") + query).content.decode()
        assert case.reference in body
        assert other_case.reference not in body
    response = client.get(reverse("admin:casework_case_change", args=[other_case.pk]))
    # The admin redirects to its index for an object the user cannot see.
    assert response.status_code == 302
    assert client.get(reverse("admin:casework_person_change", args=[other_case.person_id])).status_code == 302
    stage = StageRecord.objects.filter(enrolment__case=other_case).first()
    assert client.get(reverse("admin:programmes_stagerecord_change", args=[stage.pk])).status_code == 302


def changelist_action(client, action, stages, **extra):
    return client.post(
        reverse("admin:programmes_stagerecord_changelist"),
        {"action": action, "_selected_action": [s.pk for s in stages], **extra},
        follow=True,
    )


def test_stage_actions_in_the_admin_use_the_workflow(client, caseworker, case):
    staff_login(client, caseworker)
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
    response = changelist_action(client, "stage_start", [stage])
    assert "Start: 1 stage(s)." in response.content.decode()
    stage.refresh_from_db()
    assert stage.status == "active" and stage.transitions.get().by == caseworker

    # Completing asks for the outcome first, and changes nothing until it is given.
    response = changelist_action(client, "stage_complete", [stage])
    assert "Outcome" in response.content.decode()
    stage.refresh_from_db()
    assert stage.status == "active"
    response = changelist_action(client, "stage_complete", [stage], apply="1", note="Assessment shows progress (test).")
    stage.refresh_from_db()
    assert stage.status == "completed" and stage.outcome == "Assessment shows progress (test)."


def test_refused_stage_action_shows_a_message_and_changes_nothing(client, caseworker, case):
    staff_login(client, caseworker)
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
    response = changelist_action(client, "stage_complete", [stage], apply="1", note="Too early (test).")
    assert response.status_code == 200
    assert "cannot be completed" in response.content.decode()
    stage.refresh_from_db()
    assert stage.status == "planned" and not stage.transitions.exists()


def test_stage_status_cannot_be_edited_directly(client, administrator, case):
    force_login(client, administrator)
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    response = client.get(reverse("admin:programmes_stagerecord_change", args=[stage.pk]))
    assert 'name="status"' not in response.content.decode()


def test_closure_request_and_approval_in_the_admin(client, caseworker, supervisor, case):
    from casework.models import ClosureRequest

    staff_login(client, caseworker)
    response = client.post(
        reverse("admin:casework_closurerequest_add"), {"case": case.pk, "reason": "Settled with relatives (test)."}
    )
    assert response.status_code == 302
    request = ClosureRequest.objects.get()
    assert request.requested_by == caseworker and request.status == "pending"
    # A caseworker is not offered the decision, and a forged action decides nothing.
    changelist = client.get(reverse("admin:casework_closurerequest_changelist")).content.decode()
    assert "closure_approve" not in changelist
    client.post(
        reverse("admin:casework_closurerequest_changelist"),
        {"action": "closure_approve", "_selected_action": [request.pk]},
        follow=True,
    )
    request.refresh_from_db()
    assert request.status == "pending"
    staff_login(client, supervisor)
    # The list's approval checks the open work first: this case still has its stage plan.
    page = client.post(
        reverse("admin:casework_closurerequest_changelist"),
        {"action": "closure_approve", "_selected_action": [request.pk]},
        follow=True,
    ).content.decode()
    assert "decide on its closure page" in page
    case.refresh_from_db()
    assert case.status == "open"
    # The decision page shows that work, and approving there closes the case.
    page = client.get(reverse("admin:casework_closurerequest_change", args=[request.pk])).content.decode()
    assert 'class="open-stage"' in page
    client.post(
        reverse("admin:casework_closurerequest_change", args=[request.pk]), {"approve": "1", "comment": "Agreed."}
    )
    case.refresh_from_db()
    assert case.status == "closed"
