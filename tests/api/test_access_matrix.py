"""Every route of the API, for every role: the exact status code, and no redacted field.

The routes come from the router itself, so a new endpoint without an entry in
MATRIX fails ``test_every_route_has_a_matrix_entry``.
"""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.urls import reverse

from api.base import ALL, ApiRole
from api.casework.serializers import PENDING_PARTNER_FIELDS, ReferralSerializer
from api.urls import router
from casework.models import ReferralStatus
from lifecycle import closure, transfer
from programmes.models import (
    Programme,
    AccommodationStay,
    DocumentRequest,
    EmploymentPlacement,
    HousingPlacement,
    PsychologicalSession,
    RelativeContact,
    SchoolPlacement,
)
from tests import factories as f
from tests.api.conftest import PARTNER_ROLES, ROLES, SENTINELS, all_keys

pytestmark = pytest.mark.django_db


def row(codes: str) -> dict[str, int]:
    """Codes in the order of ROLES: anonymous, other_caseworker, partner_without_referral,
    partner_revoked, partner, supervisor, administrator, caseworker, then the demo's
    agencies: school (an accepted schooling referral of the child's case), registry (an
    accepted documents referral of the world's case) and psychologist (a pending
    psychosocial referral of the world's case: it sees that referral and nothing else)."""
    values = [int(code) for code in codes.split()]
    assert len(values) == len(ROLES)
    return dict(zip(ROLES, values))


LIST = row("401 200 200 200 200 200 200 200 200 200 200")
SEEN_BY_PARTNER_AND_STAFF = row("401 404 404 404 200 200 200 200 404 404 404")
# The world's case and person, and its enrolment: the registry works on its documents stage.
SEEN_BY_PARTNERS_AND_STAFF = row("401 404 404 404 200 200 200 200 404 200 404")
SEEN_BY_STAFF = row("401 404 404 404 404 200 200 200 404 404 404")
PARTNER_WRITE_REFUSED = row("401 404 404 404 400 200 200 200 404 400 404")
ADMIN_ONLY_CREATE = row("401 403 403 403 403 403 201 403 403 403 403")
ADMIN_ONLY_EDIT = row("401 403 403 403 403 403 200 403 403 403 403")
# Staff register arrivals in the programmes they may pick: partners 403, another
# programme's caseworker 404 (the programme is a row they may not pick).
STAFF_ONLY_CREATE = row("401 404 403 403 403 201 201 201 403 403 403")
# Legal proceedings and hearings: read and recorded by the programme's supervisors (and legal
# officers, tests/test_justice_access.py) and administrators; not by its caseworkers, nor by a
# partner unless referred for legal aid (none is here). Writes are refused (403) before any row
# is looked up to whoever records no proceedings.
SEEN_BY_LEGAL = row("401 404 404 404 404 200 200 404 404 404 404")
LEGAL_CREATE = row("401 403 403 403 403 201 201 403 403 403 403")
LEGAL_EDIT = row("401 403 403 403 403 200 200 403 403 403 403")

# Stage details: the partner's referral covers the psychological stage, so it works on
# psychological sessions and sees no other kind of detail; the school works on the child's
# school placement, the registry on the world's document request; a body naming a stage
# the caller may not pick answers 400 on that field.
DETAIL_ROUTES = {
    "accommodation-stay": None,
    "psychological-session": "partner",
    "school-placement": "school",
    "document-request": "registry",
    "housing-placement": None,
    "employment-placement": None,
    "relative-contact": None,
}
DEMO_COLUMNS = ("school", "registry", "psychologist")


def _detail_matrix() -> dict:
    entries = {}
    for name, works_on_it in DETAIL_ROUTES.items():
        partner = works_on_it == "partner"

        def codes(base: str, partner_code: str, refused: str, code: str) -> dict[str, int]:
            values = base.split()
            values[4] = partner_code if partner else refused
            demo = [code if works_on_it == role else refused for role in DEMO_COLUMNS]
            return row(" ".join(values + demo))

        entries[(f"{name}-list", "GET")] = LIST
        entries[(f"{name}-changes", "GET")] = LIST
        entries[(f"{name}-list", "POST")] = codes("401 400 400 400 P 201 201 201", "201", "400", "201")
        entries[(f"{name}-detail", "GET")] = codes("401 404 404 404 P 200 200 200", "200", "404", "200")
        for method in ("PATCH", "PUT"):
            entries[(f"{name}-detail", method)] = codes("401 404 404 404 P 200 200 200", "200", "404", "200")
    for action in ("document-request-submit", "document-request-issue", "document-request-refuse"):
        entries[(action, "POST")] = row("401 404 404 404 404 200 200 200 404 200 404")
    entries[("school-placement-end", "POST")] = row("401 404 404 404 404 200 200 200 200 404 404")
    return entries


# (route name, method) -> expected status by role, and the request body if any.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("api-root", "GET"): LIST,
    ("person-list", "GET"): LIST,
    ("person-detail", "GET"): SEEN_BY_PARTNERS_AND_STAFF,
    ("person-detail", "PATCH"): PARTNER_WRITE_REFUSED,
    ("person-detail", "PUT"): PARTNER_WRITE_REFUSED,
    ("person-changes", "GET"): LIST,
    ("person-search", "POST"): LIST,
    ("person-export", "GET"): row("401 404 404 404 403 403 200 403 404 403 404"),
    ("family-list", "GET"): LIST,
    ("family-detail", "GET"): SEEN_BY_STAFF,
    ("family-changes", "GET"): LIST,
    ("case-list", "GET"): LIST,
    ("case-detail", "GET"): SEEN_BY_PARTNERS_AND_STAFF,
    ("case-detail", "PATCH"): PARTNER_WRITE_REFUSED,
    ("case-detail", "PUT"): PARTNER_WRITE_REFUSED,
    ("case-changes", "GET"): LIST,
    ("enrolment-list", "GET"): LIST,
    ("enrolment-detail", "GET"): SEEN_BY_PARTNERS_AND_STAFF,
    ("stage-list", "GET"): LIST,
    ("stage-detail", "GET"): SEEN_BY_PARTNER_AND_STAFF,
    ("stage-changes", "GET"): LIST,
    ("stage-start", "POST"): SEEN_BY_PARTNER_AND_STAFF,
    ("stage-complete", "POST"): row("401 404 404 404 409 409 409 409 404 404 404"),
    ("stage-block", "POST"): SEEN_BY_PARTNER_AND_STAFF,
    ("stage-unblock", "POST"): row("401 404 404 404 409 409 409 409 404 404 404"),
    ("stage-discontinue", "POST"): row("401 404 404 404 403 200 200 200 404 404 404"),
    ("stage-reopen", "POST"): row("401 404 404 404 403 409 409 409 404 404 404"),
    ("follow-up-list", "GET"): LIST,
    ("follow-up-detail", "GET"): SEEN_BY_PARTNER_AND_STAFF,
    ("follow-up-changes", "GET"): LIST,
    ("follow-up-record-outcome", "POST"): SEEN_BY_PARTNER_AND_STAFF,
    ("referral-list", "GET"): LIST,
    # Staff refer under a consent; another programme's caseworker may not pick the case (400).
    ("referral-list", "POST"): row("401 400 403 403 403 201 201 201 403 403 403"),
    ("referral-detail", "GET"): SEEN_BY_PARTNER_AND_STAFF,
    ("referral-changes", "GET"): LIST,
    # The world's referral is accepted: it can be completed, no longer answered.
    ("referral-accept", "POST"): row("401 404 404 404 409 403 403 403 404 404 404"),
    ("referral-decline", "POST"): row("401 404 404 404 409 403 403 403 404 404 404"),
    ("referral-complete", "POST"): row("401 404 404 404 200 200 200 200 404 404 404"),
    ("programme-list", "GET"): LIST,
    ("programme-list", "POST"): ADMIN_ONLY_CREATE,
    ("programme-detail", "GET"): SEEN_BY_STAFF,
    ("programme-detail", "PATCH"): ADMIN_ONLY_EDIT,
    ("programme-detail", "PUT"): ADMIN_ONLY_EDIT,
    ("stage-type-list", "GET"): LIST,
    ("stage-type-list", "POST"): ADMIN_ONLY_CREATE,
    ("stage-type-detail", "GET"): SEEN_BY_STAFF,
    ("stage-type-detail", "PATCH"): ADMIN_ONLY_EDIT,
    ("stage-type-detail", "PUT"): ADMIN_ONLY_EDIT,
    ("agency-list", "GET"): LIST,
    ("agency-list", "POST"): ADMIN_ONLY_CREATE,
    ("agency-detail", "GET"): row("401 200 404 404 200 200 200 200 404 404 404"),
    ("agency-detail", "PATCH"): ADMIN_ONLY_EDIT,
    ("agency-detail", "PUT"): ADMIN_ONLY_EDIT,
    ("arrival-list", "POST"): STAFF_ONLY_CREATE,
    ("legal-proceeding-list", "GET"): LIST,
    ("legal-proceeding-list", "POST"): LEGAL_CREATE,
    ("legal-proceeding-detail", "GET"): SEEN_BY_LEGAL,
    ("legal-proceeding-detail", "PATCH"): LEGAL_EDIT,
    ("legal-proceeding-detail", "PUT"): LEGAL_EDIT,
    ("court-hearing-list", "GET"): LIST,
    ("court-hearing-list", "POST"): LEGAL_CREATE,
    ("court-hearing-detail", "GET"): SEEN_BY_LEGAL,
    ("court-hearing-detail", "PATCH"): LEGAL_EDIT,
    ("court-hearing-detail", "PUT"): LEGAL_EDIT,
    **_detail_matrix(),
    # Consents and reassignment are programme staff's.
    ("consent-list", "GET"): LIST,
    ("consent-list", "POST"): row("401 400 403 403 403 201 201 201 403 403 403"),
    ("consent-detail", "GET"): SEEN_BY_STAFF,
    ("consent-withdraw", "POST"): row("401 404 403 403 403 200 200 200 403 403 403"),
    ("case-assign", "POST"): row("401 404 403 403 403 200 200 200 403 403 403"),
    # Notes are programme staff's: partners see none and may not add one.
    ("note-list", "GET"): LIST,
    ("note-list", "POST"): row("401 400 403 403 403 201 201 201 403 403 403"),
    ("note-detail", "GET"): SEEN_BY_STAFF,
    # Closure: staff ask; a supervisor of the programme (or an administrator) decides, and
    # the caseworker who asked may not (409, the closure service's rule).
    ("case-request-closure", "POST"): row("401 404 403 403 403 201 201 201 403 403 403"),
    ("closure-request-list", "GET"): LIST,
    ("closure-request-detail", "GET"): SEEN_BY_STAFF,
    ("closure-request-approve", "POST"): row("401 404 403 403 403 200 200 409 403 403 403"),
    ("closure-request-reject", "POST"): row("401 404 403 403 403 200 200 409 403 403 403"),
    # Transfers: the case's caseworker or its programme's supervisor asks (an administrator, who
    # is neither, 409); the request is seen by the staff of both programmes (the other programme's
    # caseworker is the receiving side), and decided only by a supervisor of the receiving
    # programme, whom this world does not have (tests/test_transfer.py has one): 409 for all.
    ("case-request-transfer", "POST"): row("401 404 403 403 403 201 409 201 403 403 403"),
    ("transfer-request-list", "GET"): LIST,
    ("transfer-request-detail", "GET"): row("401 200 404 404 404 200 200 200 404 404 404"),
    ("transfer-request-accept", "POST"): row("401 409 403 403 403 409 409 409 403 403 403"),
    ("transfer-request-refuse", "POST"): row("401 409 403 403 403 409 409 409 403 403 403"),
}


def _serializer_of(name: str):
    """The serializer of the viewset that answers route ``name``."""
    for pattern in router.urls:
        if pattern.name == name:
            return getattr(pattern.callback.cls, "serializer_class", None)
    return None


def fields_outside_the_partner_set(name: str, data) -> set[str]:
    """The fields of an answer to a partner that its serializer's partner set does not
    hold (``Meta.access``); of a pending referral, those outside what an agency reads to
    decide (``PENDING_PARTNER_FIELDS``)."""
    serializer = _serializer_of(name)
    access = getattr(getattr(serializer, "Meta", None), "access", None)
    if access is None or not isinstance(data, dict):
        return set()
    read = access[ApiRole.PARTNER].read
    items = data["results"] if "results" in data else [data]
    outside = set()
    for item in items:
        allowed = set(serializer().fields) if read == ALL else set(read)
        if serializer is ReferralSerializer and item.get("status") == ReferralStatus.PENDING:
            allowed = set(PENDING_PARTNER_FIELDS)
        outside |= set(item) - allowed
    return outside


def router_routes() -> set[tuple[str, str]]:
    routes = set()
    for pattern in router.urls:
        actions = getattr(pattern.callback, "actions", None)
        methods = [m.upper() for m in actions] if actions else ["GET"]
        for method in methods:
            if method not in ("HEAD", "OPTIONS"):
                routes.add((pattern.name, method))
    return routes


def test_every_route_has_a_matrix_entry():
    assert router_routes() == set(MATRIX)


def _target(world, name: str):
    """The object of the world that a detail route of this resource is called on."""
    targets = {
        "person": world.person,
        "family": world.family,
        "case": world.case,
        "enrolment": world.case.enrolments.get(),
        "stage": world.stage,
        "follow-up": world.follow_up,
        "referral": world.referral,
        "programme": world.programme,
        "stage-type": world.stage_type,
        "agency": world.agency,
        "legal-proceeding": world.proceeding,
        "court-hearing": world.hearing,
        **stage_details(world),
        "closure-request": closure_request(world),
        "transfer-request": transfer_request(world),
        "note": world.case.notes.get(),
        "consent": world.referral.consent,
    }
    resource = max((key for key in targets if name.startswith(key + "-")), key=len)
    return targets[resource]


def closure_request(world):
    """The caseworker's pending request to close the world's case, made once."""
    if not hasattr(world, "closure_request"):
        world.closure_request = closure.case_closure_request(
            case_id=world.case.pk, by=world.users["caseworker"], reason="Work done (test)"
        )
    return world.closure_request


def transfer_request(world):
    """The caseworker's pending request to hand the world's case to the other programme, made once."""
    if not hasattr(world, "transfer_request"):
        world.transfer_request = transfer.transfer_request_create(
            case_id=world.case.pk,
            to_programme_id=_other_programme(world).pk,
            by=world.users["caseworker"],
            reason="Moving south (test)",
        )
    return world.transfer_request


def _other_programme(world):
    return Programme.objects.exclude(pk=world.programme.pk).get()


def stage_details(world) -> dict:
    """One detail of each kind on the world's case (a school placement on a child's), made once."""
    if not hasattr(world, "details"):
        case = world.case
        stages = {stage.stage_type.kind: stage for stage in case.enrolments.get().stages.select_related("stage_type")}
        school = world.child.enrolments.get().stages.get(stage_type__kind="schooling")
        day = datetime.date.today() - datetime.timedelta(days=3)
        world.details = {
            "accommodation-stay": AccommodationStay.objects.create(
                stage=stages["accommodation"], centre="Centre (test)", arrived_on=day
            ),
            "psychological-session": PsychologicalSession.objects.create(stage=stages["psychological"], held_on=day),
            "school-placement": SchoolPlacement.objects.create(
                stage=school, institution="School (test)", level="school", enrolled_on=day
            ),
            "document-request": DocumentRequest.objects.create(
                stage=stages["documents"], document_type="passport", requested_on=day
            ),
            "housing-placement": HousingPlacement.objects.create(
                stage=stages["housing"], address="1 Test Street", living_with="relatives", moved_in_on=day
            ),
            "employment-placement": EmploymentPlacement.objects.create(
                stage=stages["employment"], kind="job", organisation="Bakery (test)", started_on=day
            ),
            "relative-contact": RelativeContact.objects.create(
                stage=stages["housing"],
                relative_name="Aunt (test)",
                relationship="aunt_uncle",
                method="phone",
                contacted_on=day,
            ),
        }
    return world.details


def _detail_bodies(world) -> dict:
    details = stage_details(world)
    day = str(datetime.date.today() - datetime.timedelta(days=1))
    full = {
        "accommodation-stay": {"centre": "Centre two (test)", "arrived_on": day},
        "psychological-session": {"kind": "session", "mode": "group", "held_on": day},
        "school-placement": {"institution": "School two (test)", "level": "school", "grade": 2, "enrolled_on": day},
        "document-request": {"document_type": "national_id", "requested_on": day},
        "housing-placement": {"address": "2 Test Street", "living_with": "own_home", "moved_in_on": day},
        "employment-placement": {"kind": "training", "organisation": "Course (test)", "started_on": day},
        "relative-contact": {
            "relative_name": "Uncle (test)",
            "relationship": "aunt_uncle",
            "method": "visit",
            "contacted_on": day,
            "outcome": "refuses",
            "reason": "Not now (test)",
        },
    }
    bodies = {
        ("document-request-issue", "POST"): {"issued_on": day, "number": "N-1"},
        ("document-request-refuse", "POST"): {"reason": "Refused (test)"},
        ("school-placement-end", "POST"): {"left_on": day, "reason": "Moved (test)"},
    }
    for name, body in full.items():
        stage = details[name].stage_id
        bodies[(f"{name}-list", "POST")] = {"stage": stage, **body}
        bodies[(f"{name}-detail", "PUT")] = {"stage": stage, **body}
        bodies[(f"{name}-detail", "PATCH")] = {key: value for key, value in body.items() if key != "document_type"}
    return bodies


def _body(world, name: str, method: str) -> dict | None:
    person = {
        "given_name": "Testgiven",
        "patronymic": "",
        "family_name": "Samplova",
        "sex": "female",
        "date_of_birth": "1990-05-17",
        "date_of_birth_estimated": True,
        "place_of_birth": "",
        "nationality": "KZ",
        "languages": ["kk", "ru"],
    }
    bodies = {
        ("person-detail", "PATCH"): {"languages": ["kk", "ar"]},
        ("person-detail", "PUT"): person,
        ("person-search", "POST"): {"name": "Testgiven"},
        ("case-detail", "PATCH"): {"risk_level": "high"},
        ("case-detail", "PUT"): {
            "risk_level": "high",
            "legal_status": "none",
            "arrival_date": str(world.case.arrival_date),
        },
        ("stage-start", "POST"): {},
        ("stage-complete", "POST"): {"outcome": "Done (test)"},
        ("stage-block", "POST"): {"reason": "Waiting for a document (test)"},
        ("stage-discontinue", "POST"): {"reason": "Moved away (test)"},
        ("stage-reopen", "POST"): {"reason": "Back again (test)"},
        ("follow-up-record-outcome", "POST"): {"outcome": "Visited, all well (test)"},
        ("programme-list", "POST"): {
            "code": "east",
            "name": "East (test)",
            "country": "KZ",
            "time_zone": "Asia/Almaty",
            "is_active": True,
        },
        ("programme-detail", "PATCH"): {"name": "North renamed (test)"},
        ("programme-detail", "PUT"): {
            "code": "north",
            "name": "North (test)",
            "country": "KZ",
            "time_zone": "Asia/Almaty",
            "is_active": True,
        },
        ("stage-type-list", "POST"): {
            "programme": world.programme.pk,
            "code": "extra",
            "name": "Extra (test)",
            "kind": "other",
            "default_duration_days": 10,
        },
        ("stage-type-detail", "PATCH"): {"name": "Renamed stage (test)"},
        ("stage-type-detail", "PUT"): {
            "programme": world.programme.pk,
            "code": world.stage_type.code,
            "name": "Renamed stage (test)",
            "kind": world.stage_type.kind,
            "default_duration_days": 30,
        },
        ("agency-list", "POST"): {"code": "new-agency", "name": "New agency (test)", "kind": "ngo"},
        ("arrival-list", "POST"): {
            "programme": world.programme.pk,
            "arrival_date": str(world.programme.local_today() - datetime.timedelta(days=2)),
            "members": [
                {
                    "given_name": "Matrixgiven",
                    "family_name": "Arrivalova",
                    "sex": "female",
                    "date_of_birth": "1985-02-03",
                    "relationship": "head",
                }
            ],
        },
        ("legal-proceeding-list", "POST"): {
            "case": world.case.pk,
            "stage": "investigation",
            "opened_on": str(world.case.arrival_date),
        },
        ("legal-proceeding-detail", "PATCH"): {"stage": "trial"},
        ("legal-proceeding-detail", "PUT"): {
            "case": world.case.pk,
            "stage": "trial",
            "opened_on": str(world.proceeding.opened_on),
            "charges": "Amended (test)",
        },
        ("court-hearing-list", "POST"): {
            "proceeding": world.proceeding.pk,
            "held_on": str(world.hearing.held_on),
            "court": "Regional court (test)",
        },
        ("court-hearing-detail", "PATCH"): {"outcome": "adjourned"},
        ("court-hearing-detail", "PUT"): {
            "proceeding": world.proceeding.pk,
            "held_on": str(world.hearing.held_on),
            "court": "Regional court (test)",
            "outcome": "held",
        },
        ("agency-detail", "PATCH"): {"name": "Renamed agency (test)"},
        ("agency-detail", "PUT"): {
            "code": world.agency.code,
            "name": "Renamed agency (test)",
            "kind": "ngo",
            "is_active": True,
        },
    }
    bodies[("consent-list", "POST")] = {
        "person": world.person.pk,
        "agency": world.agency.pk,
        "purpose": "documents",
        "given_on": str(datetime.date.today() - datetime.timedelta(days=1)),
    }
    bodies[("consent-withdraw", "POST")] = {}
    bodies[("case-assign", "POST")] = {"caseworker": world.users["supervisor"].pk}
    bodies[("note-list", "POST")] = {"case": world.case.pk, "body": "Called the school (test)"}
    bodies[("case-request-closure", "POST")] = {"reason": "Work done (test)"}
    bodies[("closure-request-approve", "POST")] = {"comment": "Agreed (test)"}
    bodies[("closure-request-reject", "POST")] = {"comment": "Not yet (test)"}
    bodies[("case-request-transfer", "POST")] = {"to_programme": _other_programme(world).pk, "reason": "Moving (test)"}
    bodies[("transfer-request-accept", "POST")] = {"carry_over": "carry_open"}
    bodies[("transfer-request-refuse", "POST")] = {"comment": "No room (test)"}
    bodies[("referral-accept", "POST")] = {"reason": "A place from Monday (test)"}
    bodies[("referral-decline", "POST")] = {"reason": "No places (test)"}
    if (name, method) == ("referral-list", "POST"):
        consent = f.ConsentFactory(person=world.person, agency=world.agency, purpose="documents")
        bodies[(name, method)] = {
            "case": world.case.pk,
            "agency": world.agency.pk,
            "purpose": "documents",
            "consent": consent.pk,
        }
    if name.split("-")[0] in {
        "accommodation",
        "psychological",
        "school",
        "document",
        "housing",
        "employment",
        "relative",
    }:
        bodies.update(_detail_bodies(world))
    return bodies.get((name, method))


def _url(world, name: str) -> str:
    if name == "api-root":
        return reverse("api-root")
    if name.endswith("-list") or name.endswith("-changes") or name.endswith("-search"):
        return reverse(name)
    return reverse(name, kwargs={"pk": _target(world, name).pk})


def _call(world, role, name, method):
    client = world.client(role)
    url = _url(world, name)
    body = _body(world, name, method)
    headers = {}
    if method in ("PUT", "PATCH"):
        # An edit names the version it is based on (``If-Match: *`` answers 428): the one this
        # role last read, or none it could have read.
        headers["HTTP_IF_MATCH"] = client.get(url).get("ETag", '"unseen"')
    return client.generic(
        method,
        url,
        data=None if body is None else __import__("json").dumps(body),
        content_type="application/json",
        **headers,
    )


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[1]} {r[0]}")
def test_route_for_every_role(world, route):
    name, method = route
    # Made outside the rolled-back calls below.
    if any(name.startswith(f"{detail}-") for detail in DETAIL_ROUTES):
        stage_details(world)
    if name.startswith("closure-request-"):
        closure_request(world)
    if name.startswith("transfer-request-"):
        transfer_request(world)
    failures = []
    for role in ROLES:
        with transaction.atomic():
            response = _call(world, role, name, method)
            transaction.set_rollback(True)
        expected = MATRIX[route][role]
        if response.status_code != expected:
            failures.append(f"{role}: {response.status_code} (expected {expected}) {response.content[:200]!r}")
            continue
        assert "no-store" in response["Cache-Control"]
        if response.status_code >= 300 or not response.content:
            continue
        data = response.json()
        if role in PARTNER_ROLES:
            content = response.content.decode()
            leaked = [s for s in SENTINELS if s in content]
            assert not leaked, f"{role} {name}: {leaked}"
            redacted = {
                "legal_status",
                "identifiers",
                "former_names",
                "risk_level",
                "place_of_birth",
                "nationality",
                "consent",
                "referred_by",
                "status_reason",
                "responsible_user",
                "assignee",
            }
            assert not (all_keys(data) & redacted), f"{role} {name}: {all_keys(data) & redacted}"
            outside = fields_outside_the_partner_set(name, data)
            assert not outside, f"{role} {name}: {outside}"
        if method == "GET" and name != "api-root" and (name.endswith("-list") or name.endswith("-changes")):
            # A list shows the target object exactly to the roles that may open it.
            detail = MATRIX[(name.rsplit("-", 1)[0] + "-detail", "GET")]
            target = _target(world, name)
            ids = {item["id"] for item in data["results"]}
            should_see = detail[role] == 200
            if (target.pk in ids) != should_see:
                failures.append(f"{role}: target {'missing from' if should_see else 'leaked into'} the list")
    assert not failures, f"{method} {name}:\n" + "\n".join(failures)


def test_the_pending_referral_is_listed_with_the_decision_fields_only(world):
    """The psychological service's referral waits for its answer: it lists it, with what it
    needs to decide, and nothing else of the case (its routes answer 404 above)."""
    results = world.client("psychologist").get(reverse("referral-list")).json()["results"]
    assert [item["status"] for item in results] == ["pending"]
    assert set(results[0]) == set(PENDING_PARTNER_FIELDS)


def test_staff_see_what_partners_may_not(world):
    response = world.client("caseworker").get(reverse("person-detail", kwargs={"pk": world.person.pk}))
    content = response.content.decode()
    assert "Formername Sentinelova" in content and "ID-SENTINEL-0001" in content
