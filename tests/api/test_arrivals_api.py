"""Issue #14: staff register an arriving family through the API (``POST /api/v1/arrivals/``),
through the same service as the admin's page. Names are fictional."""

from __future__ import annotations

import datetime
import json

import pytest
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditEntry
from auditlog.models import LogEntry
from casework.models import Case, DistinctPersonPair, Family, Person
from lifecycle import intake
from programmes.models import Enrolment, StageRecord
from tests import factories as f

pytestmark = pytest.mark.django_db

URL = "/api/v1/arrivals/"


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user)[1]}")
    return client


def post(user, body):
    return client_for(user).post(URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def operation(db):
    return f.OperationFactory(code="op-api-1", name="Test operation (fictional)")


def family_of_three(programme, operation=None, **overrides) -> dict:
    """A mother and two children; the head is not the first member."""
    body = {
        "programme": programme.pk,
        "operation": operation.pk if operation else None,
        "arrival_date": str(programme.local_today() - datetime.timedelta(days=2)),
        "relative_name": "Aigul Relativova",
        "relative_phone": "+7 700 123 4567",
        "relative_address": "12 Example street\nAlmaty",
        "members": [
            {"given_name": "Dana", "family_name": "Apitestova", "sex": "female", "age": 7, "relationship": "child"},
            {
                "given_name": "Zarina",
                "family_name": "Apitestova",
                "patronymic": "Bolatovna",
                "other_spellings": ["Зарина Апитестова"],
                "sex": "female",
                "date_of_birth": "1993-04-12",
                "relationship": "head",
                "nationality": "KZ",
                "languages": ["kk", "ru"],
            },
            {
                "given_name": "Timur",
                "family_name": "Apitestova",
                "sex": "male",
                "date_of_birth": str(f.born_years_ago(15)),
                "relationship": "child",
            },
        ],
    }
    body.update(overrides)
    return body


def counts() -> tuple[int, int, int, int]:
    return Person.objects.count(), Family.objects.count(), Case.objects.count(), Enrolment.objects.count()


# --- 201 ----------------------------------------------------------------------------------------


def test_caseworker_registers_a_family_of_three(programme, caseworker, operation):
    response = post(caseworker, family_of_three(programme, operation))
    assert response.status_code == 201, response.content
    data = response.json()
    assert [m["index"] for m in data["members"]] == [0, 1, 2]
    family = Family.objects.get(pk=data["family"])
    assert family.reference == data["family_reference"]
    for member, given in zip(data["members"], ("Dana", "Zarina", "Timur"), strict=True):
        case = Case.objects.get(pk=member["case"])
        assert case.reference == member["reference"]
        assert case.person_id == member["person"]
        assert case.person.given_name == given
        assert case.family_id == family.pk
        assert case.operation_id == operation.pk
        assert case.caseworker_id == caseworker.pk
        enrolment = case.enrolments.get()
        assert enrolment.programme_id == programme.pk
        assert StageRecord.objects.filter(enrolment=enrolment).exists()
    # Ids and references only: nothing of the people comes back.
    content = response.content.decode()
    for sent in ("Dana", "Zarina", "Timur", "Apitestova", "Aigul", "1993"):
        assert sent not in content
    # The cases are the caseworker's at once.
    listed = client_for(caseworker).get(reverse("case-list"), {"page_size": 200}).json()
    assert {m["case"] for m in data["members"]} <= {row["id"] for row in listed["results"]}


def test_supervisor_and_administrator_register_too(programme, supervisor, administrator):
    assert post(supervisor, family_of_three(programme)).status_code == 201
    body = family_of_three(programme)
    for member, given in zip(body["members"], ("Kamila", "Gulnara", "Arman"), strict=True):
        member.update(given_name=given, family_name="Kurmanbekova", other_spellings=[])
    response = post(administrator, body)
    assert response.status_code == 201, response.content
    # An administrator does not work in the programme: the cases have no caseworker yet.
    assert Case.objects.get(pk=response.json()["members"][0]["case"]).caseworker_id is None


# --- 409 and the decisions ----------------------------------------------------------------------


def test_a_second_identical_post_hits_the_duplicate_check(programme, caseworker):
    body = family_of_three(programme)
    first = post(caseworker, body)
    assert first.status_code == 201
    before = counts()
    again = post(caseworker, body)
    assert again.status_code == 409, again.content
    assert counts() == before
    data = again.json()
    assert data["code"] == "possible_duplicates"
    created = {m["index"]: m for m in first.json()["members"]}
    for index in ("0", "1", "2"):
        candidate = data["candidates"][index][0]
        assert candidate["person"] == created[int(index)]["person"]
        assert candidate["reference"] == created[int(index)]["reference"]
        assert candidate["family_reference"] == first.json()["family_reference"]
        assert candidate["score"] > 0 and candidate["reasons"]
    assert data["candidates"]["1"][0]["birth_year"] == 1993
    # The people shown are recorded as read by the caseworker, through the API.
    shown = sorted(m["person"] for m in first.json()["members"])
    read = AuditEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=caseworker, door="api")
    assert any(sorted(entry.object_ids or [entry.object_id]) == shown for entry in read)
    content = again.content.decode()
    for sent in ("Dana", "Zarina", "Timur", "Apitestova"):
        assert sent not in content


def test_decisions_round_trip(programme, caseworker):
    first = post(caseworker, family_of_three(programme)).json()
    body = family_of_three(programme)
    body["decisions"] = {"0": "different", "1": "different", "2": "different"}
    response = post(caseworker, body)
    assert response.status_code == 201, response.content
    twins = {m["index"]: m["person"] for m in response.json()["members"]}
    for member in first["members"]:
        assert twins[member["index"]] != member["person"]
        low, high = sorted((twins[member["index"]], member["person"]))
        assert DistinctPersonPair.objects.filter(person_a_id=low, person_b_id=high).exists()


def test_a_decision_same_as_a_person_on_file_uses_that_person(programme, caseworker):
    on_file = f.PersonFactory(
        given_name="Zarina", family_name="Apitestova", date_of_birth=datetime.date(1993, 4, 12), created_by=caseworker
    )
    body = family_of_three(programme)
    asked = post(caseworker, body)
    assert asked.status_code == 409
    assert [c["person"] for c in asked.json()["candidates"]["1"]] == [on_file.pk]
    body["decisions"] = {"1": on_file.pk}
    response = post(caseworker, body)
    assert response.status_code == 201, response.content
    head = response.json()["members"][1]
    assert head["person"] == on_file.pk
    assert Case.objects.get(pk=head["case"]).person_id == on_file.pk


def test_a_person_of_another_programme_is_not_revealed(programme, caseworker, administrator, other_case):
    hidden = other_case.person
    body = family_of_three(programme)
    body["members"][1].update(
        given_name=hidden.given_name, family_name=hidden.family_name, date_of_birth=str(hidden.date_of_birth)
    )
    body["members"][1].pop("other_spellings")
    # The administrator sees that person: the check asks.
    asked = post(administrator, body)
    assert asked.status_code == 409
    assert [c["person"] for c in asked.json()["candidates"]["1"]] == [hidden.pk]
    # The caseworker of another programme is told nothing about them.
    response = post(caseworker, body)
    assert response.status_code == 201, response.content
    assert response.json()["members"][1]["person"] != hidden.pk


def test_the_answer_drops_candidates_the_caller_may_not_see(programme, caseworker, other_case, monkeypatch):
    # Should the service ever offer a person the caller may not see, the answer leaves them out.
    def offers_a_hidden_person(**kwargs):
        raise intake.PossibleDuplicates(
            {0: [intake.Candidate(score=0.9, reasons=("same name",), person_id=other_case.person_id)]}
        )

    monkeypatch.setattr("api.lifecycle.views.arrivals_register", offers_a_hidden_person)
    response = post(caseworker, family_of_three(programme))
    assert response.status_code == 409
    assert response.json()["candidates"] == {"0": []}


def test_a_decision_naming_a_hidden_person_is_a_field_error(programme, caseworker, other_case):
    body = family_of_three(programme, decisions={"1": other_case.person_id})
    before = counts()
    response = post(caseworker, body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["members.1.decision"]
    assert counts() == before


# --- 400, 404, 403 ------------------------------------------------------------------------------


def test_bad_input_answers_field_errors_and_saves_nothing(programme, caseworker):
    body = family_of_three(programme)
    body["members"][0]["age"] = None
    body["members"][1]["nationality"] = "XQ"
    body["members"][2]["sex"] = "Secretvalue"
    body["members"][2]["age"] = 4
    before = counts()
    response = post(caseworker, body)
    assert response.status_code == 400, response.content
    assert counts() == before
    errors = response.json()["errors"]
    assert set(errors) == {"members.2.sex"}
    assert "Secretvalue" not in response.content.decode()
    # Past the shape, the service's own rules, keyed the same way.
    body["members"][2]["sex"] = "male"
    response = post(caseworker, body)
    assert response.status_code == 400
    assert counts() == before
    assert set(response.json()["errors"]) == {"members.0.date_of_birth", "members.1.nationality", "members.2.age"}
    assert "XQ" not in response.content.decode()


@pytest.mark.parametrize(
    "change",
    [
        {"members": []},
        {"members": "Secretvalue"},
        {"members": [{"given_name": "Secretvalue"}]},
        {"members": ["Secretvalue"]},
        {"arrival_date": "Secretvalue"},
        {"arrival_date": "2999-01-01"},
        {"programme": "Secretvalue"},
        {"programme": 2**70},
        {"operation": -1},
        {"relative_phone": "Secretvalue"},
        {"decisions": "Secretvalue"},
        {"decisions": {"Secretvalue": "different"}},
        {"decisions": {"0": "Secretvalue"}},
        {"decisions": {"0": True}},
        {"decisions": {"7": "different"}},
        {"Secretvalue": 1},
    ],
)
def test_malformed_bodies_answer_400_without_quoting_them(programme, caseworker, change):
    before = counts()
    body = family_of_three(programme)
    body.update(change)
    response = post(caseworker, body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"]
    assert "Secretvalue" not in response.content.decode()
    assert counts() == before


def test_a_body_that_is_not_an_object_answers_400(programme, caseworker):
    for body in ([], "x", 3, None):
        response = post(caseworker, body)
        assert response.status_code == 400, response.content


def test_another_programme_answers_404(programme, other_programme, caseworker, operation):
    before = counts()
    for programme_id in (other_programme.pk, other_programme.pk + 1000):
        body = family_of_three(programme)
        body["programme"] = programme_id
        response = post(caseworker, body)
        assert response.status_code == 404, response.content
    body = family_of_three(programme)
    body["operation"] = operation.pk + 1000
    response = post(caseworker, body)
    assert response.status_code == 404
    assert counts() == before


def test_partners_and_anonymous_callers_are_refused(programme, partner, partner_without_referral):
    before = counts()
    assert post(partner, family_of_three(programme)).status_code == 403
    assert post(partner_without_referral, family_of_three(programme)).status_code == 403
    assert post(None, family_of_three(programme)).status_code == 401
    assert counts() == before


def test_no_other_method(programme, caseworker):
    client = client_for(caseworker)
    assert client.get(URL).status_code == 405
    assert client.put(URL, data="{}", content_type="application/json").status_code == 405


def test_a_member_typed_twice_is_asked_about(programme, caseworker):
    body = family_of_three(programme)
    body["members"].append(dict(body["members"][0]))
    response = post(caseworker, body)
    assert response.status_code == 409
    candidates = response.json()["candidates"]
    assert candidates["0"][0]["member"] == 3 and "person" not in candidates["0"][0]
    assert candidates["3"][0]["member"] == 0
    body["decisions"] = {"0": "different", "3": "different"}
    assert post(caseworker, body).status_code == 201
