"""Stage details through the API: each partner agency records its part, the stage moves,
and the next report counts it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from casework.models import AgencyKind, ConsentPurpose, ReferralStatus
from programmes import reports, services
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    EmploymentPlacement,
    HousingPlacement,
    PsychologicalSession,
    RelativeContact,
    SchoolPlacement,
    StageKind,
    StageStatus,
)
from tests import factories as f

pytestmark = pytest.mark.django_db

ADDRESS = "12 Sentinel Street, flat 3 (test)"


@dataclass
class Partners:
    programme: object
    adult: object
    child: object
    users: dict

    def client(self, name: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(self.users[name])
        return client

    def stage(self, case, kind):
        return case.enrolments.get().stages.get(stage_type__kind=kind)


def _agency_member(username: str, code: str, kind: str, case, purpose: str, *, by, status=ReferralStatus.ACCEPTED):
    agency = f.AgencyFactory(code=code, name=f"{code} (test)", kind=kind)
    user = f.UserFactory(username=username, is_staff=False)
    agency.members.add(user)
    f.ReferralFactory(case=case, agency=agency, purpose=purpose, referred_by=by, status=status)
    return user


@pytest.fixture
def partners(programme, caseworker, supervisor, case):
    child = f.CaseFactory(person=f.PersonFactory(date_of_birth=f.born_years_ago(9)), caseworker=caseworker)
    f.enrol(child, programme, by=caseworker)
    by = caseworker
    users = {
        "caseworker": caseworker,
        "supervisor": supervisor,
        "school": _agency_member("school", "school-1", AgencyKind.SCHOOL, child, ConsentPurpose.SCHOOLING, by=by),
        "registry": _agency_member(
            "registry", "registry-1", AgencyKind.CIVIL_REGISTRY, case, ConsentPurpose.DOCUMENTS, by=by
        ),
        "psychologist": _agency_member(
            "psychologist", "psy-1", AgencyKind.HEALTH, case, ConsentPurpose.PSYCHOSOCIAL, by=by
        ),
        "housing": _agency_member("housing", "housing-1", AgencyKind.NGO, case, ConsentPurpose.HOUSING, by=by),
        "jobs": _agency_member("jobs", "jobs-1", AgencyKind.EMPLOYMENT, case, ConsentPurpose.EMPLOYMENT, by=by),
        # An NGO referred for all services: sees the housing stage, not the address.
        "ngo": _agency_member("ngo", "ngo-1", AgencyKind.NGO, case, ConsentPurpose.GENERAL, by=by),
        "pending_school": _agency_member(
            "pending-school",
            "school-2",
            AgencyKind.SCHOOL,
            child,
            ConsentPurpose.SCHOOLING,
            by=by,
            status=ReferralStatus.PENDING,
        ),
    }
    return Partners(programme=programme, adult=case, child=child, users=users)


def _days_ago(days: int) -> str:
    return str(datetime.date.today() - datetime.timedelta(days=days))


def _numbers(programme) -> dict:
    today = programme.local_today()
    return reports.report_numbers(programme=programme, period=reports.period_containing(today, "weekly"))


def _stage_row(numbers: dict, kind_code: str) -> dict:
    return next(row for row in numbers["stages"] if row["code"] == kind_code)


# Each agency records the detail of its kind: (user, route, case, stage kind, stage code, body).
RECORDS = {
    "school": ("school-placement-list", "child", StageKind.SCHOOLING, "school"),
    "registry": ("document-request-list", "adult", StageKind.DOCUMENTS, "documents"),
    "psychologist": ("psychological-session-list", "adult", StageKind.PSYCHOLOGICAL, "psychological"),
    "housing": ("housing-placement-list", "adult", StageKind.HOUSING, "housing"),
    "jobs": ("employment-placement-list", "adult", StageKind.EMPLOYMENT, "employment"),
    "ngo": ("accommodation-stay-list", "adult", StageKind.ACCOMMODATION, "accommodation"),
}


def _body(user: str, stage) -> dict:
    bodies = {
        "school": {"institution": "School No. 5 (test)", "level": "school", "grade": 3, "enrolled_on": _days_ago(2)},
        "registry": {"document_type": "passport", "requested_on": _days_ago(3)},
        "psychologist": {"kind": "session", "mode": "individual", "held_on": _days_ago(1)},
        "housing": {"address": ADDRESS, "living_with": "relatives", "moved_in_on": _days_ago(1)},
        "jobs": {"kind": "training", "organisation": "Tailoring course (test)", "started_on": _days_ago(4)},
        "ngo": {"centre": "Adaptation centre (test)", "arrived_on": _days_ago(5)},
    }
    return {"stage": stage.pk, **bodies[user]}


@pytest.mark.parametrize("user", sorted(RECORDS))
def test_a_partners_record_starts_its_stage_and_moves_the_report(partners, user):
    route, which, kind, code = RECORDS[user]
    stage = partners.stage(getattr(partners, which), kind)
    before = _stage_row(_numbers(partners.programme), code)
    assert stage.status == StageStatus.PLANNED

    response = partners.client(user).post(reverse(route), _body(user, stage), format="json")

    assert response.status_code == 201, response.content
    assert response["ETag"]
    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE
    assert stage.transitions.get().by == partners.users[user]
    after = _stage_row(_numbers(partners.programme), code)
    assert (after["planned"], after["active"]) == (before["planned"] - 1, before["active"] + 1)
    # Audited, with the agency the partner acted for.
    detail_type = ContentType.objects.get_for_model(MODELS[route][0])
    entry = AuditEntry.objects.get(content_type=detail_type, object_pk=str(response.json()["id"]))
    assert entry.actor == partners.users[user]
    assert entry.agency is not None and entry.agency.members.filter(pk=partners.users[user].pk).exists()


def test_a_school_placement_takes_the_child_out_of_children_without_a_school_place(partners):
    stage = partners.stage(partners.child, StageKind.SCHOOLING)
    before = _numbers(partners.programme)["attention"]["children_without_school"]
    response = partners.client("school").post(reverse("school-placement-list"), _body("school", stage), format="json")
    assert response.status_code == 201
    assert _numbers(partners.programme)["attention"]["children_without_school"] == before - 1

    # The child leaves: an end day and a reason, and the child counts again.
    placement = response.json()["id"]
    url = reverse("school-placement-end", kwargs={"pk": placement})
    refused = partners.client("school").post(url, {"left_on": _days_ago(0)}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["errors"]
    ended = partners.client("school").post(url, {"left_on": _days_ago(0), "reason": "Moved (test)"}, format="json")
    assert ended.status_code == 200 and ended.json()["left_reason"] == "Moved (test)"
    assert _numbers(partners.programme)["attention"]["children_without_school"] == before
    again = partners.client("school").post(url, {"left_on": _days_ago(0), "reason": "Again (test)"}, format="json")
    assert again.status_code == 409
    # Never deleted, and the leaving day is the action's, not an edit's.
    detail = reverse("school-placement-detail", kwargs={"pk": placement})
    assert partners.client("school").delete(detail).status_code == 405
    etag = partners.client("school").get(detail)["ETag"]
    patch = partners.client("school").patch(detail, {"left_on": None}, format="json", HTTP_IF_MATCH=etag)
    assert patch.status_code == 400
    assert SchoolPlacement.objects.get(pk=placement).left_on is not None


def test_documents_move_by_their_actions_and_complete_the_stage(partners):
    client = partners.client("registry")
    stage = partners.stage(partners.adult, StageKind.DOCUMENTS)
    before = _numbers(partners.programme)["attention"]
    ids = {}
    for document_type in ("passport", "birth_certificate"):
        body = {"stage": stage.pk, "document_type": document_type, "requested_on": _days_ago(3), "status": "issued"}
        assert client.post(reverse("document-request-list"), body, format="json").status_code == 400
        body.pop("status")
        response = client.post(reverse("document-request-list"), body, format="json")
        assert response.status_code == 201 and response.json()["status"] == "requested"
        ids[document_type] = response.json()["id"]

    passport = ids["passport"]
    submitted = client.post(reverse("document-request-submit", kwargs={"pk": passport}))
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    assert client.post(reverse("document-request-submit", kwargs={"pk": passport})).status_code == 409
    future = {"issued_on": _days_ago(-30), "number": "N-SENTINEL-77"}
    assert client.post(reverse("document-request-issue", kwargs={"pk": passport}), future).status_code == 400
    issued = client.post(
        reverse("document-request-issue", kwargs={"pk": passport}),
        {"issued_on": _days_ago(1), "number": "N-SENTINEL-77"},
        format="json",
    )
    assert issued.status_code == 200 and issued.json()["number"] == "N-SENTINEL-77"
    after = _numbers(partners.programme)["attention"]
    assert after["adults_without_passport_or_id"] == before["adults_without_passport_or_id"] - 1
    assert after["people_without_documents"] == before["people_without_documents"] - 1
    # Stored encrypted: the column holds no trace of the number.
    with connection.cursor() as cursor:
        cursor.execute("SELECT number FROM programmes_documentrequest WHERE id = %s", [passport])
        (stored,) = cursor.fetchone()
    assert "SENTINEL" not in stored
    # Neither the audit trail.
    assert not any("SENTINEL" in str(entry.changes) for entry in AuditEntry.objects.all())

    stage.refresh_from_db()
    assert stage.status == StageStatus.ACTIVE
    client.post(
        reverse("document-request-issue", kwargs={"pk": ids["birth_certificate"]}),
        {"issued_on": _days_ago(0)},
        format="json",
    )
    stage.refresh_from_db()
    assert stage.status == StageStatus.COMPLETED
    assert stage.transitions.order_by("at", "id").last().by == partners.users["registry"]

    refuse = reverse("document-request-refuse", kwargs={"pk": passport})
    assert client.post(refuse, {"reason": "Too late (test)"}, format="json").status_code == 409


def test_a_refused_document_can_be_requested_again(partners):
    client = partners.client("registry")
    stage = partners.stage(partners.adult, StageKind.DOCUMENTS)
    body = {"stage": stage.pk, "document_type": "national_id", "requested_on": _days_ago(3)}
    first = client.post(reverse("document-request-list"), body, format="json").json()["id"]
    assert client.post(reverse("document-request-list"), body, format="json").status_code == 400
    refuse = reverse("document-request-refuse", kwargs={"pk": first})
    assert client.post(refuse, {}, format="json").status_code == 400
    refused = client.post(refuse, {"reason": "Missing papers (test)"}, format="json")
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    assert client.post(reverse("document-request-list"), body, format="json").status_code == 201


def test_the_housing_address_is_for_staff_and_the_agency_referred_for_housing(partners):
    stage = partners.stage(partners.adult, StageKind.HOUSING)
    created = partners.client("housing").post(reverse("housing-placement-list"), _body("housing", stage), format="json")
    assert created.status_code == 201 and created.json()["address"] == ADDRESS
    url = reverse("housing-placement-detail", kwargs={"pk": created.json()["id"]})
    assert partners.client("caseworker").get(url).json()["address"] == ADDRESS
    seen_by_ngo = partners.client("ngo").get(url)
    assert seen_by_ngo.status_code == 200 and seen_by_ngo.json()["address"] is None
    assert ADDRESS not in partners.client("ngo").get(reverse("housing-placement-list")).content.decode()
    assert ADDRESS not in partners.client("ngo").get(reverse("housing-placement-changes")).content.decode()
    # Nor may the NGO write one.
    refused = partners.client("ngo").patch(
        url, {"address": "Elsewhere (test)"}, format="json", HTTP_IF_MATCH=seen_by_ngo["ETag"]
    )
    assert refused.status_code == 400 and "address" in refused.json()["errors"]
    # Other agencies do not see the placement at all.
    assert partners.client("school").get(url).status_code == 404
    assert partners.client("psychologist").get(url).status_code == 404


def test_a_partner_records_only_on_the_stages_it_works_on(partners):
    adult_psych = partners.stage(partners.adult, StageKind.PSYCHOLOGICAL)
    child_school = partners.stage(partners.child, StageKind.SCHOOLING)
    # Another stage of the same case, a stage of a case not referred, a pending referral: 400 on stage.
    for user, stage, route in [
        ("psychologist", partners.stage(partners.adult, StageKind.DOCUMENTS), "document-request-list"),
        ("school", adult_psych, "psychological-session-list"),
        ("pending_school", child_school, "school-placement-list"),
    ]:
        response = partners.client(user).post(reverse(route), _body_for(route, stage), format="json")
        assert response.status_code == 400 and list(response.json()["errors"]) == ["stage"], user
    # A record of another kind than its stage: 400.
    wrong_kind = _body("school", adult_psych)
    response = partners.client("caseworker").post(reverse("school-placement-list"), wrong_kind, format="json")
    assert response.status_code == 400 and "stage" in response.json()["errors"]
    assert not SchoolPlacement.objects.exists()


def _body_for(route: str, stage) -> dict:
    user = next(user for user, record in RECORDS.items() if record[0] == route)
    return _body(user, stage)


def test_edits_need_the_current_etag_and_a_record_stays_on_its_stage(partners):
    client = partners.client("psychologist")
    stage = partners.stage(partners.adult, StageKind.PSYCHOLOGICAL)
    created = client.post(reverse("psychological-session-list"), _body("psychologist", stage), format="json")
    url = reverse("psychological-session-detail", kwargs={"pk": created.json()["id"]})
    assert client.patch(url, {"mode": "group"}, format="json").status_code == 428
    assert client.patch(url, {"mode": "group"}, format="json", HTTP_IF_MATCH='"stale"').status_code == 412
    etag = created["ETag"]
    assert client.patch(url, {"mode": "group"}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    assert client.patch(url, {"mode": "family"}, format="json", HTTP_IF_MATCH=etag).status_code == 412
    etag = client.get(url)["ETag"]
    other = partners.stage(partners.adult, StageKind.DOCUMENTS)
    moved = partners.client("caseworker").patch(url, {"stage": other.pk}, format="json", HTTP_IF_MATCH=etag)
    assert moved.status_code == 400
    assert PsychologicalSession.objects.get().stage == stage
    assessment = client.patch(url, {"kind": "assessment"}, format="json", HTTP_IF_MATCH=etag)
    assert assessment.status_code == 400


def test_no_record_on_an_ended_enrolment(partners):
    stage = partners.stage(partners.adult, StageKind.PSYCHOLOGICAL)
    services.enrolment_end(enrolment_id=stage.enrolment_id, status="withdrawn", by=partners.users["caseworker"])
    response = partners.client("caseworker").post(
        reverse("psychological-session-list"), _body("psychologist", stage), format="json"
    )
    assert response.status_code == 409
    assert not PsychologicalSession.objects.exists()


def test_filters_and_the_sync_feed(partners):
    client = partners.client("caseworker")
    psych = partners.stage(partners.adult, StageKind.PSYCHOLOGICAL)
    for days in (1, 20, 40):
        body = {**_body("psychologist", psych), "held_on": _days_ago(days)}
        assert client.post(reverse("psychological-session-list"), body, format="json").status_code == 201
    url = reverse("psychological-session-list")
    assert client.get(url, {"held_on_after": _days_ago(25)}).json()["count"] == 2
    assert client.get(url, {"held_on_before": _days_ago(25), "case": partners.adult.pk}).json()["count"] == 1
    assert client.get(url, {"stage": partners.stage(partners.child, StageKind.SCHOOLING).pk}).json()["count"] == 0
    assert client.get(url, {"held_on_after": "not-a-day"}).status_code == 400
    feed = client.get(reverse("psychological-session-changes"), {"page_size": 2}).json()
    assert len(feed["results"]) == 2 and feed["next"]
    school = partners.stage(partners.child, StageKind.SCHOOLING)
    client.post(reverse("school-placement-list"), _body("school", school), format="json")
    placements = reverse("school-placement-list")
    assert partners.client("school").get(placements, {"current": "true"}).json()["count"] == 1
    assert partners.client("school").get(placements, {"current": "false"}).json()["count"] == 0
    documents = reverse("document-request-list")
    assert client.get(documents, {"status": "issued"}).json()["count"] == 0


MODELS = {
    "accommodation-stay-list": (AccommodationStay, StageKind.ACCOMMODATION, "ngo"),
    "psychological-session-list": (PsychologicalSession, StageKind.PSYCHOLOGICAL, "psychologist"),
    "school-placement-list": (SchoolPlacement, StageKind.SCHOOLING, "school"),
    "document-request-list": (DocumentRequest, StageKind.DOCUMENTS, "registry"),
    "housing-placement-list": (HousingPlacement, StageKind.HOUSING, "housing"),
    "employment-placement-list": (EmploymentPlacement, StageKind.EMPLOYMENT, "jobs"),
    "relative-contact-list": (RelativeContact, StageKind.HOUSING, "housing"),
}


def _rows(model, stage, count: int):
    today = datetime.date.today()
    fields = {
        AccommodationStay: {"centre": "Centre (test)", "arrived_on": today},
        PsychologicalSession: {"held_on": today},
        SchoolPlacement: {"institution": "School (test)", "level": "school", "enrolled_on": today},
        DocumentRequest: {"document_type": "other", "status": "refused", "requested_on": today},
        HousingPlacement: {"address": ADDRESS, "living_with": "relatives", "moved_in_on": today},
        EmploymentPlacement: {"kind": "job", "organisation": "Bakery (test)", "started_on": today},
        RelativeContact: {
            "relative_name": "Aunt (test)",
            "relationship": "aunt_uncle",
            "method": "phone",
            "contacted_on": today,
            "outcome": "refuses",
            "reason": "Not now (test)",
        },
    }[model]
    model.objects.bulk_create([model(stage=stage, **fields) for _ in range(count)])


@pytest.mark.parametrize("feed", ["list", "changes"])
@pytest.mark.parametrize("route", sorted(MODELS))
@pytest.mark.parametrize("who", ["caseworker", "partner"])
def test_query_count_is_constant_in_page_size(partners, route, who, feed):
    model, kind, partner = MODELS[route]
    route = route.replace("-list", f"-{feed}")
    case = partners.child if kind == StageKind.SCHOOLING else partners.adult
    _rows(model, partners.stage(case, kind), 6)
    client = partners.client(partner if who == "partner" else who)
    counts = []
    for page_size in (1, 6):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(route), {"page_size": page_size})
        assert response.status_code == 200 and len(response.json()["results"]) == page_size
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
