"""A referral waiting for the agency's answer shows the agency what it needs to decide
(the person's age band and languages, the purpose, the referring caseworker's note) and
nothing of the case's other work, through every route; accepting opens the case, and
the answer (accepted or declined) records who gave it, when and why."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from casework.models import AgencyKind, ConsentPurpose, Referral, ReferralStatus
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    EmploymentPlacement,
    FollowUp,
    HousingPlacement,
    PsychologicalSession,
    SchoolPlacement,
    StageRecord,
    StageType,
)
from tests import factories as f

pytestmark = pytest.mark.django_db

NOTE = "Needs a grade 3 place, speaks Kazakh at home (test)"
GIVEN = "Pendinggiven"
INSTITUTION = "Sentinel school (test)"


@pytest.fixture
def pending(programme, caseworker):
    """A school whose only referral of a child's case waits for its answer, with a detail
    of every kind, a follow-up and another agency's referral on the case."""
    person = f.PersonFactory(given_name=GIVEN, date_of_birth=f.born_years_ago(9), languages=["kk", "ru"])
    case = f.CaseFactory(person=person, caseworker=caseworker, reference="N-0009")
    f.enrol(case, programme, by=caseworker)
    school = f.AgencyFactory(code="school-p", name="School P (test)", kind=AgencyKind.SCHOOL)
    teacher = f.UserFactory(username="teacher-p", is_staff=False)
    school.members.add(teacher)
    referral = f.ReferralFactory(
        case=case, agency=school, purpose=ConsentPurpose.SCHOOLING, referred_by=caseworker, note=NOTE
    )
    other = f.ReferralFactory(case=case, agency=f.AgencyFactory(code="other-p"), referred_by=caseworker)
    stages = {stage.stage_type.kind: stage for stage in case.enrolments.get().stages.select_related("stage_type")}
    day = datetime.date.today() - datetime.timedelta(days=2)
    for kind in ("accommodation", "psychological", "schooling", "documents", "housing", "employment"):
        # A kind the child's plan lacks gets a stage of the programme's type for it.
        if kind not in stages:
            enrolment = case.enrolments.get()
            stages[kind] = StageRecord.objects.create(
                enrolment=enrolment,
                stage_type=StageType.objects.get(programme=programme, kind=kind),
                planned_start=day,
                due_date=day + datetime.timedelta(days=30),
            )
    details = {
        "accommodation-stay": AccommodationStay.objects.create(
            stage=stages["accommodation"], centre="Centre (test)", arrived_on=day
        ),
        "psychological-session": PsychologicalSession.objects.create(stage=stages["psychological"], held_on=day),
        "school-placement": SchoolPlacement.objects.create(
            stage=stages["schooling"], institution=INSTITUTION, level="school", enrolled_on=day
        ),
        "document-request": DocumentRequest.objects.create(
            stage=stages["documents"], document_type="passport", requested_on=day
        ),
        "housing-placement": HousingPlacement.objects.create(
            stage=stages["housing"], address="1 Pending Street", living_with="relatives", moved_in_on=day
        ),
        "employment-placement": EmploymentPlacement.objects.create(
            stage=stages["employment"], kind="job", organisation="Bakery (test)", started_on=day
        ),
    }
    follow_up = FollowUp.objects.create(stage=stages["schooling"], kind="visit", due_date=day, assignee=caseworker)
    client = APIClient()
    client.force_authenticate(teacher)
    return {
        "case": case,
        "referral": referral,
        "other": other,
        "teacher": teacher,
        "client": client,
        "stages": stages,
        "details": details,
        "follow_up": follow_up,
    }


PENDING_KEYS = {
    "id",
    "case_reference",
    "agency",
    "purpose",
    "status",
    "age_band",
    "languages",
    "referred_on",
    "note",
    "updated_at",
}


def _assert_decision_view(item, world):
    assert set(item) == PENDING_KEYS
    assert item["age_band"] == "school"
    assert item["languages"] == ["kk", "ru"]
    assert (item["purpose"], item["note"], item["status"]) == ("schooling", NOTE, "pending")


def test_the_pending_referral_shows_what_the_agency_needs_to_decide(pending):
    client, referral = pending["client"], pending["referral"]
    listed = client.get(reverse("referral-list")).json()["results"]
    assert [item["id"] for item in listed] == [referral.pk]  # not the other agency's
    _assert_decision_view(listed[0], pending)
    detail = client.get(reverse("referral-detail", kwargs={"pk": referral.pk}))
    assert detail.status_code == 200
    _assert_decision_view(detail.json(), pending)
    changes = client.get(reverse("referral-changes")).json()["results"]
    _assert_decision_view(changes[0], pending)
    content = detail.content.decode() + str(listed) + str(changes)
    assert GIVEN not in content and str(pending["case"].person.date_of_birth) not in content


def test_a_filter_on_the_case_or_stage_does_not_tell_which_case_waits(pending):
    client, case = pending["client"], pending["case"]
    assert client.get(reverse("referral-list"), {"case": case.pk}).json()["results"] == []
    stage = pending["stages"]["schooling"]
    assert client.get(reverse("referral-list"), {"stage": stage.pk}).json()["results"] == []


CASE_ROUTES = [
    ("case", "case"),
    ("person", "person"),
    ("enrolment", "enrolment"),
    ("stage", "stage"),
    ("follow-up", "follow_up"),
]


def _targets(pending) -> dict:
    case = pending["case"]
    return {
        "case": case,
        "person": case.person,
        "enrolment": case.enrolments.get(),
        "stage": pending["stages"]["schooling"],
        "follow-up": pending["follow_up"],
        **pending["details"],
    }


@pytest.mark.parametrize(
    "route",
    [
        "case",
        "person",
        "enrolment",
        "stage",
        "follow-up",
        "accommodation-stay",
        "psychological-session",
        "school-placement",
        "document-request",
        "housing-placement",
        "employment-placement",
    ],
)
def test_nothing_of_the_case_until_the_agency_accepts(pending, route):
    client = pending["client"]
    target = _targets(pending)[route]
    detail = reverse(f"{route}-detail", kwargs={"pk": target.pk})
    assert client.get(detail).status_code == 404
    assert client.get(reverse(f"{route}-list")).json()["results"] == []
    if route not in ("enrolment",):
        assert client.get(reverse(f"{route}-changes")).json()["results"] == []

    # Accepting opens the case and the stages the purpose covers (schooling here).
    response = client.post(reverse("referral-accept", kwargs={"pk": pending["referral"].pk}), {}, format="json")
    assert response.status_code == 200
    opened = {"case", "person", "enrolment", "stage", "follow-up", "school-placement"}
    assert client.get(detail).status_code == (200 if route in opened else 404)


def test_the_name_search_finds_no_one(pending):
    response = pending["client"].post(reverse("person-search"), {"name": GIVEN}, format="json")
    assert response.status_code == 200 and response.json()["results"] == []


def test_once_accepted_the_agency_reads_the_case_and_the_referral_in_full(pending):
    client, referral = pending["client"], pending["referral"]
    client.post(reverse("referral-accept", kwargs={"pk": referral.pk}), {"reason": "Place in 3B"}, format="json")
    data = client.get(reverse("referral-detail", kwargs={"pk": referral.pk})).json()
    assert data["case"] == pending["case"].pk and data["status"] == "accepted"
    assert data["response_reason"] == "Place in 3B"
    assert "responded_by" not in data and "consent" not in data and "referred_by" not in data
    assert GIVEN in client.get(reverse("case-detail", kwargs={"pk": pending["case"].pk})).content.decode()


def test_accept_records_who_when_and_why(pending, caseworker):
    referral = pending["referral"]
    response = pending["client"].post(
        reverse("referral-accept", kwargs={"pk": referral.pk}), {"reason": "A place in class 3B"}, format="json"
    )
    assert response.status_code == 200, response.content
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.ACCEPTED
    assert referral.responded_by == pending["teacher"]
    assert referral.responded_on == datetime.date.today()
    assert referral.response_reason == "A place in class 3B"
    # The referring caseworker reads the answer.
    staff = APIClient()
    staff.force_authenticate(caseworker)
    seen = staff.get(reverse("referral-detail", kwargs={"pk": referral.pk})).json()
    assert (seen["responded_by"], seen["response_reason"]) == (pending["teacher"].pk, "A place in class 3B")
    # Audited, as the agency's user.
    entry = AuditEntry.objects.filter(object_id=str(referral.pk), actor=pending["teacher"]).last()
    assert entry is not None


def test_accept_without_a_reason_is_fine(pending):
    response = pending["client"].post(reverse("referral-accept", kwargs={"pk": pending["referral"].pk}))
    assert response.status_code == 200
    assert Referral.objects.get(pk=pending["referral"].pk).response_reason == ""


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_decline_needs_a_reason(pending, body):
    referral = pending["referral"]
    response = pending["client"].post(reverse("referral-decline", kwargs={"pk": referral.pk}), body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    referral.refresh_from_db()
    assert (referral.status, referral.responded_by) == (ReferralStatus.PENDING, None)


def test_decline_records_who_when_and_why_and_ends_access(pending, caseworker):
    referral = pending["referral"]
    response = pending["client"].post(
        reverse("referral-decline", kwargs={"pk": referral.pk}), {"reason": "No places this year"}, format="json"
    )
    assert response.status_code == 200, response.content
    # The answer to the agency still says nothing of the case.
    assert set(response.json()) == PENDING_KEYS | {"responded_on", "response_reason"}
    referral.refresh_from_db()
    assert (referral.status, referral.responded_by, referral.response_reason) == (
        ReferralStatus.DECLINED,
        pending["teacher"],
        "No places this year",
    )
    assert pending["client"].get(reverse("referral-detail", kwargs={"pk": referral.pk})).status_code == 404


def test_staff_may_not_answer_for_the_agency_through_the_api(pending, caseworker):
    staff = APIClient()
    staff.force_authenticate(caseworker)
    response = staff.post(reverse("referral-decline", kwargs={"pk": pending["referral"].pk}), {"reason": "x"})
    assert response.status_code == 403
    assert Referral.objects.get(pk=pending["referral"].pk).status == ReferralStatus.PENDING
