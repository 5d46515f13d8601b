"""The audit trail through the API door: every change and every read of a case, person
or family leaves an entry with the right actor, door and agency; consent withdrawal
ends a partner's access on its next request and shows in the trail."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit.models import AuditEntry, persons_key
from casework import services
from casework.models import Case, Person
from programmes.models import Programme, StageRecord

pytestmark = pytest.mark.django_db
A = LogEntry.Action


def entries_for(model, **filters):
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), **filters)


def test_api_update_is_audited_with_actor_door_and_field_values(world):
    client = world.client("caseworker")
    url = reverse("case-detail", kwargs={"pk": world.case.pk})
    response = client.patch(url, {"risk_level": "high"}, HTTP_IF_MATCH=client.get(url)["ETag"])
    assert response.status_code == 200
    entry = entries_for(Case, action=A.UPDATE, object_id=world.case.pk, door="api").get()
    assert entry.actor == world.users["caseworker"]
    assert entry.changes["risk_level"] == ["medium", "high"]
    assert entry.persons == persons_key([world.person.pk])
    # The entry names the case by reference, never the person.
    assert world.case.reference in entry.object_repr
    assert "Samplova" not in entry.object_repr


def test_api_update_of_a_name_records_the_change_not_the_name(world):
    client = world.client("caseworker")
    url = reverse("person-detail", kwargs={"pk": world.person.pk})
    response = client.patch(url, {"family_name": "Newsurname"}, HTTP_IF_MATCH=client.get(url)["ETag"])
    assert response.status_code == 200
    entry = entries_for(Person, action=A.UPDATE, object_id=world.person.pk, door="api").get()
    assert entry.changes["family_name"] == ["[withheld]", "[withheld]"]
    assert "Newsurname" not in str(entry.changes) and "Newsurname" not in entry.object_repr


def test_api_transition_is_audited(world):
    response = world.client("partner").post(reverse("stage-start", kwargs={"pk": world.stage.pk}), {})
    assert response.status_code == 200
    entry = entries_for(StageRecord, action=A.UPDATE, object_id=world.stage.pk, door="api").get()
    assert entry.actor == world.users["partner"]
    assert entry.agency == world.agency
    assert entry.changes["status"] == ["planned", "active"]


def test_api_create_is_audited(world):
    body = {"code": "east", "name": "East (test)", "country": "KZ", "time_zone": "Asia/Almaty", "is_active": True}
    response = world.client("administrator").post(reverse("programme-list"), body)
    assert response.status_code == 201
    entry = entries_for(Programme, action=A.CREATE, object_id=response.json()["id"]).get()
    assert entry.actor == world.users["administrator"] and entry.door == "api"


def test_a_refused_write_leaves_no_change_entry(world):
    before = AuditEntry.objects.exclude(action=A.ACCESS).count()
    response = world.client("partner").patch(
        reverse("case-detail", kwargs={"pk": world.case.pk}), {"legal_status": "none"}, HTTP_IF_MATCH="*"
    )
    assert response.status_code in (400, 403, 404)
    assert AuditEntry.objects.exclude(action=A.ACCESS).count() == before


def test_list_reads_record_exactly_the_rows_returned(world):
    response = world.client("caseworker").get(reverse("case-list"))
    assert response.status_code == 200
    returned = [row["id"] for row in response.json()["results"]]
    entry = entries_for(Case, action=A.ACCESS).get()
    assert sorted(entry.object_ids) == sorted(returned)
    assert entry.actor == world.users["caseworker"] and entry.door == "api"
    assert persons_key([world.person.pk]) in entry.persons or entry.persons == persons_key([world.person.pk])


def test_detail_read_by_a_partner_names_the_agency(world):
    response = world.client("partner").get(reverse("case-detail", kwargs={"pk": world.case.pk}))
    assert response.status_code == 200
    entry = entries_for(Case, action=A.ACCESS).get()
    assert entry.object_id == world.case.pk
    assert entry.actor == world.users["partner"]
    assert entry.agency == world.agency
    assert entry.door == "api"


@pytest.mark.parametrize("route", ["person-list", "family-list", "case-changes", "person-changes"])
def test_every_list_of_people_is_audited(world, route):
    response = world.client("caseworker").get(reverse(route))
    assert response.status_code == 200
    assert AuditEntry.objects.filter(action=A.ACCESS, actor=world.users["caseworker"]).count() == 1


def test_person_search_is_audited(world):
    response = world.client("caseworker").post(reverse("person-search"), {"name": "Testgiven"})
    assert response.status_code == 200
    entry = entries_for(Person, action=A.ACCESS).get()
    assert world.person.pk in entry.object_ids


def test_a_read_that_is_refused_records_the_refusal_only(world):
    response = world.client("partner_without_referral").get(reverse("case-detail", kwargs={"pk": world.case.pk}))
    assert response.status_code == 404
    # The refusal is audited (tests/api/test_api_hardening.py); nothing of the row is.
    entry = AuditEntry.objects.filter(action=A.ACCESS).get()
    assert entry.additional_data == {"refused": True} and entry.persons == ""


def test_reads_can_be_switched_off_for_measurement(world, settings):
    settings.AUDIT_READS = False
    assert world.client("caseworker").get(reverse("case-list")).status_code == 200
    assert not AuditEntry.objects.filter(action=A.ACCESS).exists()


def test_withdrawing_consent_ends_the_partners_access_on_the_next_request(world):
    client = world.client("partner")
    url = reverse("case-detail", kwargs={"pk": world.case.pk})
    assert client.get(url).status_code == 200

    services.consent_withdraw(consent_id=world.referral.consent_id, by=world.users["caseworker"])

    assert client.get(url).status_code == 404
    assert client.get(reverse("person-detail", kwargs={"pk": world.person.pk})).status_code == 404
    assert client.get(reverse("stage-detail", kwargs={"pk": world.stage.pk})).status_code == 404
    assert world.case.pk not in [row["id"] for row in client.get(reverse("case-list")).json()["results"]]
    # The trail shows who withdrew it, and when.
    from casework.models import Consent

    entry = entries_for(Consent, action=A.UPDATE, object_id=world.referral.consent_id).latest("pk")
    assert entry.actor == world.users["caseworker"]
    assert entry.changes["withdrawn_on"][0] == "None"


def test_no_api_route_reaches_the_audit_trail(world):
    from api.urls import router

    assert not [pattern for pattern in router.urls if "audit" in str(pattern.pattern)]
    entry = AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Case), object_pk="1", object_repr="x", action=A.ACCESS
    )
    for method in ("put", "patch", "delete"):
        response = getattr(world.client("administrator"), method)(f"/api/v1/audit/{entry.pk}/")
        assert response.status_code in (404, 405)
    assert AuditEntry.objects.filter(pk=entry.pk, object_repr="x").exists()


def test_subject_access_export_through_the_api(world):
    url = reverse("person-export", kwargs={"pk": world.person.pk})
    response = world.client("administrator").get(url)
    assert response.status_code == 200
    data = response.json()
    assert data["person"]["id"] == world.person.pk
    assert [row["value"] for row in data["identifiers"]] == ["ID-SENTINEL-0001"]
    assert {row["kind"] for row in data["names"]} >= {"former", "alias"}
    assert [row["reference"] for row in data["cases"]] == [world.case.reference]
    assert data["case_notes"] and data["consents"] and data["referrals"]
    assert entries_for(Person, action=A.ACCESS, object_id=world.person.pk, door="api").exists()
    # Staff who may see the person may not export them; others do not learn they exist.
    assert world.client("caseworker").get(url).status_code == 403
    assert world.client("other_caseworker").get(url).status_code == 404


def test_an_archived_case_is_seen_by_administrators_only(world):
    services.case_archive(case_id=world.case.pk, by=world.users["administrator"])
    url = reverse("case-detail", kwargs={"pk": world.case.pk})
    assert world.client("administrator").get(url).status_code == 200
    for role in ("caseworker", "supervisor", "partner"):
        assert world.client(role).get(url).status_code == 404, role
    assert world.client("partner").get(reverse("stage-detail", kwargs={"pk": world.stage.pk})).status_code == 404
