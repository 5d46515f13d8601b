"""Findings of the API review, each through the API client: an edit must name the current
version, an edit that changes nothing writes nothing, deep JSON is a 400, no error body
quotes what was sent, the schema and docs are for signed-in callers, and a refused read
leaves an audit entry."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from audit.models import AuditEntry
from casework.models import Case, Person
from programmes.models import Programme

pytestmark = pytest.mark.django_db
MALFORMED = "Malformed request body."


def detail(name, obj):
    return reverse(name, kwargs={"pk": obj.pk})


def strings_in(data) -> list[str]:
    """Every key and string value anywhere in a JSON document."""
    found, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.extend(str(key) for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.append(item)
    return found


def assert_not_quoted(response, *values):
    texts = strings_in(response.json())
    for value in values:
        for variant in {value, value.strip()}:
            assert not any(variant in text for text in texts), (variant, response.json())


# --- 1. If-Match: * and edits that change nothing ---------------------------------------------


def test_if_match_star_does_not_skip_the_version_check(world):
    before = Case.objects.get(pk=world.case.pk).updated_at
    url = detail("case-detail", world.case)
    response = world.client("partner").patch(url, {}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 428
    assert response.json()["code"] == "if_match_required"
    response = world.client("caseworker").patch(url, {"risk_level": "high"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 428
    response = world.client("caseworker").patch(url, {"risk_level": "high"}, format="json", HTTP_IF_MATCH='*, W/"x"')
    assert response.status_code == 412
    case = Case.objects.get(pk=world.case.pk)
    assert case.updated_at == before and case.risk_level != "high"


def test_an_edit_that_changes_nothing_writes_nothing(world):
    for role, body in (("partner", {}), ("caseworker", {"risk_level": world.case.risk_level})):
        client = world.client(role)
        url = detail("case-detail", world.case)
        read = client.get(url)
        before = Case.objects.get(pk=world.case.pk).updated_at
        entries = AuditEntry.objects.count()
        response = client.patch(url, body, format="json", HTTP_IF_MATCH=read["ETag"])
        assert response.status_code == 200
        assert response.json() == read.json()
        assert response["ETag"] == read["ETag"]
        assert Case.objects.get(pk=world.case.pk).updated_at == before
        assert AuditEntry.objects.count() == entries


def test_an_edit_that_changes_something_still_needs_the_current_etag(world):
    client = world.client("caseworker")
    url = detail("person-detail", world.person)
    etag = client.get(url)["ETag"]
    assert client.patch(url, {"languages": ["kk"]}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    # The same body again changes nothing, but the version it names is stale.
    assert client.patch(url, {"languages": ["kk"]}, format="json", HTTP_IF_MATCH=etag).status_code == 412


# --- 2. Deeply nested JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["[" * 50_000, '{"a":' * 50_000, "[" * 200 + "]" * 200], ids=["arrays", "objects", "deep-but-closed"]
)
def test_deeply_nested_json_answers_400(world, body):
    client = world.client("caseworker")
    response = client.generic("POST", reverse("person-search"), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": MALFORMED, "code": "parse_error"}
    url = detail("person-detail", world.person)
    etag = client.get(url)["ETag"]
    response = client.generic("PATCH", url, body, content_type="application/json", HTTP_IF_MATCH=etag)
    assert response.status_code == 400
    assert response.json()["detail"] == MALFORMED


# --- 3. Error bodies never quote input -------------------------------------------------------------


def test_filter_values_are_not_echoed(world):
    response = world.client("caseworker").get(reverse("case-list"), {"status": "Secretfiltervalue"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]
    assert b"Secretfiltervalue" not in response.content


def test_time_zone_values_are_not_echoed(world):
    client = world.client("administrator")
    url = detail("programme-detail", world.programme)
    etag = client.get(url)["ETag"]
    response = client.patch(url, {"time_zone": "Secret/Zonename"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 400
    assert "time_zone" in response.json()["errors"]
    assert b"Secretzonename".lower() not in response.content.lower()
    body = {"code": "east", "name": "East (test)", "country": "KZ", "time_zone": "Secret/Zonename", "is_active": True}
    response = client.post(reverse("programme-list"), body, format="json")
    assert response.status_code == 400
    assert b"Zonename" not in response.content
    assert not Programme.objects.filter(code="east").exists()


@given(value=st.text(min_size=8, max_size=40).filter(lambda text: len(text.strip()) >= 8))
@hypothesis_settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_no_error_body_quotes_a_value_sent(world, value):
    caseworker = world.client("caseworker")
    administrator = world.client("administrator")
    person_url = detail("person-detail", world.person)
    programme_url = detail("programme-detail", world.programme)
    responses = [
        caseworker.get(reverse("case-list"), {"status": value}),
        caseworker.get(reverse("case-list"), {"updated_since": value, "programme": value}),
        caseworker.get(reverse("referral-list"), {"status": value}),
        caseworker.patch(
            person_url,
            {"sex": value, "date_of_birth": value},
            format="json",
            HTTP_IF_MATCH=caseworker.get(person_url)["ETag"],
        ),
        administrator.patch(
            programme_url,
            {"time_zone": value, "country": value},
            format="json",
            HTTP_IF_MATCH=administrator.get(programme_url)["ETag"],
        ),
    ]
    for response in responses:
        assert response.status_code < 500
        if response.status_code >= 400:
            assert_not_quoted(response, value)


# --- 7. The schema and the docs are for signed-in callers -------------------------------------------


def test_schema_and_docs_refuse_anonymous_callers(world, caseworker):
    anonymous = APIClient()
    response = anonymous.get("/api/schema/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_authenticated"
    for url in ("/api/docs/", "/api/docs/?script="):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=/api/docs/")
    # A token holder gets the schema; a signed-in user the docs.
    assert world.client("partner").get("/api/schema/").status_code == 200
    anonymous.force_login(caseworker)
    assert anonymous.get("/api/docs/").status_code == 200


# --- 8. Refused reads are audited ---------------------------------------------------------------


def test_a_refused_read_is_audited(world, other_case):
    client = world.client("partner")
    seen = set(AuditEntry.objects.values_list("pk", flat=True))
    refused = client.get(detail("case-detail", other_case))
    assert refused.status_code == 404
    entry = AuditEntry.objects.exclude(pk__in=seen).get()
    assert entry.actor == world.users["partner"]
    assert entry.door == "api"
    assert entry.action == LogEntry.Action.ACCESS
    assert entry.content_type == ContentType.objects.get_for_model(Case)
    assert entry.object_id == other_case.pk
    # Nothing of the row the partner may not see.
    assert entry.persons == "" and entry.object_ids is None
    person = Person.objects.get(pk=other_case.person_id)
    recorded = f"{entry.object_repr} {entry.changes} {entry.additional_data}"
    for private in (other_case.reference, person.given_name, person.family_name):
        assert private not in recorded

    # An id that does not exist at all: the same answer, and the same kind of entry.
    missing = Case.objects.order_by("-pk").first().pk + 1000
    seen = set(AuditEntry.objects.values_list("pk", flat=True))
    response = client.get(reverse("case-detail", kwargs={"pk": missing}))
    assert response.status_code == 404 and response.content == refused.content
    entry = AuditEntry.objects.exclude(pk__in=seen).get()
    assert entry.object_id == missing and entry.actor == world.users["partner"]
