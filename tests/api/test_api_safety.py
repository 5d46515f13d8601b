"""Safe edits, error answers, tokens and field-level access through the API."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from casework.models import ReferralStatus
from programmes.models import StageStatus
from tests import factories as f

pytestmark = pytest.mark.django_db


def detail(name, obj):
    return reverse(name, kwargs={"pk": obj.pk})


# --- ETag and If-Match --------------------------------------------------------------


def test_stale_if_match_answers_412_and_changes_nothing(world):
    client = world.client("caseworker")
    url = detail("person-detail", world.person)
    etag = client.get(url)["ETag"]
    assert client.patch(url, {"languages": ["kk"]}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    # The first write changed the ETag; a second client still holding the old one is refused.
    response = client.patch(url, {"languages": ["ar"]}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    world.person.refresh_from_db()
    assert world.person.languages == ["kk"]


def test_update_without_if_match_answers_428(world):
    response = world.client("caseworker").patch(
        detail("case-detail", world.case), {"risk_level": "high"}, format="json"
    )
    assert response.status_code == 428


def test_stage_transition_with_stale_etag_answers_412(world):
    client = world.client("caseworker")
    url = detail("stage-detail", world.stage)
    etag = client.get(url)["ETag"]
    assert client.post(url + "start/", {}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    response = client.post(url + "block/", {"reason": "Waiting (test)"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    world.stage.refresh_from_db()
    assert world.stage.status == StageStatus.ACTIVE


def test_refused_transition_answers_409(world):
    response = world.client("caseworker").post(
        detail("stage-detail", world.stage) + "complete/", {"outcome": "Done (test)"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"


def test_referral_answers_follow_their_table(world):
    world.referral.status = ReferralStatus.PENDING
    world.referral.save()
    client = world.client("partner")
    url = detail("referral-detail", world.referral)
    assert client.post(url + "accept/").status_code == 200
    assert client.post(url + "accept/").status_code == 409
    assert client.post(url + "complete/").json()["status"] == ReferralStatus.COMPLETED
    # Completing the referral ended the agency's access.
    assert client.get(url).status_code == 404
    assert client.get(detail("case-detail", world.case)).status_code == 404


# --- Bad input ------------------------------------------------------------------------


def test_malformed_json_answers_400_without_echoing_the_body(world):
    response = world.client("caseworker").generic(
        "PATCH",
        detail("person-detail", world.person),
        '{"given_name": "Secretname',
        content_type="application/json",
        HTTP_IF_MATCH="*",
    )
    assert response.status_code == 400
    assert b"Secretname" not in response.content


def test_oversized_body_answers_413(world, settings):
    settings.API_MAX_REQUEST_BODY_BYTES = 1000
    body = json.dumps({"outcome": "x" * 2000})
    response = world.client("caseworker").generic(
        "POST", detail("follow-up-detail", world.follow_up) + "record-outcome/", body, content_type="application/json"
    )
    assert response.status_code == 413


def test_a_field_the_role_may_not_write_answers_400_and_saves_nothing(world):
    client = world.client("partner")
    url = detail("person-detail", world.person)
    response = client.patch(url, {"given_name": "Changed", "languages": ["ar"]}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"given_name", "languages"}
    world.person.refresh_from_db()
    assert world.person.given_name != "Changed"
    # A caseworker may not write read-only fields such as the reference either.
    response = world.client("caseworker").patch(
        detail("case-detail", world.case), {"reference": "X-1", "risk_level": "high"}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 400
    world.case.refresh_from_db()
    assert world.case.reference == "N-0001" and world.case.risk_level != "high"


def test_model_validation_answers_400_with_field_errors(world):
    future = (timezone.localdate() + datetime.timedelta(days=5)).isoformat()
    response = world.client("caseworker").patch(
        detail("person-detail", world.person), {"date_of_birth": future}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 400
    assert "date_of_birth" in response.json()["errors"]
    assert future not in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "programme=abc",
        "programme=99999999999999999999999",
        "updated_since=0001-01-01T00:00:00%2B14:00",
        "updated_since=8937-11-12T01:12:57%2B23:42",
        "age_band=elderly",
        "overdue=maybe",
        "page=zzz",
        "page_size=100000",
        "ordering=legal_status",
    ],
)
def test_bad_filters_never_answer_500(world, query):
    response = world.client("caseworker").get(reverse("case-list") + "?" + query)
    assert response.status_code in (200, 400, 404)


def test_unknown_api_paths_answer_json_404(world):
    response = world.client("caseworker").get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert world.client("caseworker").get("/api/v1/cases/99999999999999999999999/").status_code == 404


# --- Tokens ---------------------------------------------------------------------------


def test_bearer_and_token_keywords_both_work(world):
    token = world.tokens["caseworker"]
    for keyword in ("Token", "Bearer", "bearer"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
        assert client.get(reverse("case-list")).status_code == 200


def test_garbage_tokens_answer_401(world):
    for header in ("Token", "Token a b", "Bearer " + "x" * 64, "Token \u00e9\u00e9"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get(reverse("case-list")).status_code == 401


def test_expired_revoked_and_deactivated_lose_access_on_the_next_request(world):
    client = world.client("caseworker")
    assert client.get(reverse("case-list")).status_code == 200

    AuthToken.objects.filter(user=world.users["caseworker"]).update(
        expiry=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert client.get(reverse("case-list")).status_code == 401

    _, token = AuthToken.objects.create(world.users["caseworker"])
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(reverse("case-list")).status_code == 200
    AuthToken.objects.filter(user=world.users["caseworker"]).delete()  # revoked in the admin
    assert client.get(reverse("case-list")).status_code == 401

    _, token = AuthToken.objects.create(world.users["caseworker"])
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    world.users["caseworker"].is_active = False
    world.users["caseworker"].save()
    assert client.get(reverse("case-list")).status_code == 401


def test_removing_a_role_ends_access_on_the_next_request(world):
    client = world.client("partner")
    assert client.get(detail("case-detail", world.case)).status_code == 200
    world.agency.members.remove(world.users["partner"])
    assert client.get(detail("case-detail", world.case)).status_code == 404


def test_issue_token_prints_a_token_that_works_and_is_stored_hashed(world):
    out = io.StringIO()
    call_command("issue_token", "supervisor", "--days", "2", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip()
    assert not AuthToken.objects.filter(digest=token).exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(reverse("case-list")).status_code == 200


def test_anonymous_callers_are_throttled_harder(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "5/minute", "anonymous": "2/minute"},
    }
    anonymous = APIClient()
    codes = [anonymous.get(reverse("case-list")).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    client = world.client("caseworker")
    codes = [client.get(reverse("case-list")).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    # The budget is per token: another client of the same user has its own.
    _, token = AuthToken.objects.create(world.users["caseworker"])
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert other.get(reverse("case-list")).status_code == 200


# --- Field-level access -----------------------------------------------------------------


def test_a_school_sees_schooling_not_psychology(programme, caseworker, db):
    school = f.AgencyFactory(code="school-7", kind="school")
    teacher = f.UserFactory(username="teacher", is_staff=False)
    school.members.add(teacher)
    child = f.PersonFactory(date_of_birth=f.born_years_ago(9))
    case = f.CaseFactory(person=child, caseworker=caseworker)
    f.enrol(case, programme, by=caseworker)
    f.ReferralFactory(
        case=case, agency=school, purpose="schooling", referred_by=caseworker, status=ReferralStatus.ACCEPTED
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(teacher)[1]}")
    kinds = {stage["stage_type"]["kind"] for stage in client.get(reverse("stage-list")).json()["results"]}
    assert kinds == {"schooling"}
    case_kinds = {s["stage_type"]["kind"] for s in client.get(detail("case-detail", case)).json()["current_stages"]}
    assert case_kinds == {"schooling"}
    psychology = case.enrolments.get().stages.get(stage_type__kind="psychological")
    assert client.get(detail("stage-detail", psychology)).status_code == 404


def test_name_search_goes_in_the_body_and_hides_former_names_from_partners(world):
    url = reverse("person-search")
    assert world.client("caseworker").post(url, {"name": "Sentinelova"}, format="json").json()["count"] == 1
    assert world.client("partner").post(url, {"name": "Sentinelova"}, format="json").json()["count"] == 0
    assert world.client("partner").post(url, {"name": "Testgiven"}, format="json").json()["count"] == 1


def test_every_answer_is_no_store(world):
    for url in (reverse("case-list"), "/api/schema/", "/api/v1/nothing/"):
        assert "no-store" in world.client("caseworker").get(url)["Cache-Control"]


# --- Query counts ---------------------------------------------------------------------------

LIST_ROUTES = [
    "person-list",
    "person-changes",
    "family-list",
    "case-list",
    "case-changes",
    "enrolment-list",
    "stage-list",
    "stage-changes",
    "follow-up-list",
    "referral-list",
    "referral-changes",
    "consent-list",
    "programme-list",
    "stage-type-list",
    "agency-list",
    "note-list",
    "closure-request-list",
]


@pytest.fixture
def many_cases(world, programme, caseworker, agency):
    """Enough rows that a page of 100 is full for every list."""
    family = world.family
    for n in range(25):
        case = f.CaseFactory(caseworker=caseworker, family=family)
        f.cw.PersonName.objects.create(person=case.person, full_name=f"Name {n}", script="latin", kind="primary")
        f.cw.FamilyMembership.objects.create(
            family=f.cw.Family.objects.create(reference=f"F-{n}"), person=case.person, relationship="head"
        )
        enrolment = f.enrol(case, programme, by=caseworker)
        stage = enrolment.stages.first()
        for day in range(4):
            f.pg.FollowUp.objects.create(
                stage=stage, kind="visit", due_date=timezone.localdate() + datetime.timedelta(days=day)
            )
        f.ReferralFactory(case=case, agency=agency, referred_by=caseworker)
        f.cw.CaseNote.objects.create(case=case, author=caseworker, body=f"Note {n} (test)")
        f.cw.ClosureRequest.objects.create(case=case, requested_by=caseworker, reason=f"Reason {n} (test)")
        f.AgencyFactory()
        f.ProgrammeFactory(catalogue=n < 3)
    return world


@pytest.mark.parametrize("role", ["caseworker", "partner", "administrator"])
@pytest.mark.parametrize("name", LIST_ROUTES)
def test_list_query_count_does_not_grow_with_the_page(many_cases, name, role):
    client = many_cases.client(role)
    url = reverse(name)
    counts = []
    for size in (1, 100):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"page_size": size})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], f"{name} as {role}: {counts[0]} queries for 1 row, {counts[1]} for 100"


def test_ordering_by_a_shared_value_pages_stably(world, programme, caseworker):
    # Cases that share an arrival date still come in one fixed order: the id breaks the tie,
    # in the SQL itself (the database may otherwise return ties in any order, page by page).
    for _ in range(5):
        case = f.CaseFactory(caseworker=caseworker, arrival_date=world.case.arrival_date)
        f.enrol(case, programme, by=caseworker)
    client = world.client("caseworker")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("case-list"), {"ordering": "-arrival_date", "page_size": 2})
    assert response.status_code == 200
    page_sql = next(
        q["sql"]
        for q in queries.captured_queries
        if "ORDER BY" in q["sql"] and "casework_case" in q["sql"] and "LIMIT" in q["sql"]
    )
    order_by = page_sql.rsplit("ORDER BY", 1)[1]
    assert order_by.index("arrival_date") < order_by.index('"id"')
    ids = []
    for page in (1, 2, 3):
        response = client.get(reverse("case-list"), {"ordering": "arrival_date", "page_size": 2, "page": page})
        ids += [row["id"] for row in response.json()["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 6
