"""A small world for the API tests: the shared actors, a referred case with sensitive
data in every place a leak could happen, and an API token for each role."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from casework.models import (
    AgencyKind,
    CaseNote,
    ConsentPurpose,
    Family,
    FamilyMembership,
    LegalStatus,
    PersonIdentifier,
    PersonName,
    ReferralStatus,
)
from justice.models import CourtHearing, LegalProceeding
from programmes.models import FollowUp, StageKind
from tests import factories as f

# Strings that must never reach a partner agency.
FORMER_NAME = "Formername Sentinelova"
ALIAS_NAME = "Umm Sentinel"
IDENTIFIER = "ID-SENTINEL-0001"
NOTE_BODY = "Sentinel note body"
CHARGES = "Sentinel charges text"
HEARING_NOTES = "Sentinel hearing notes"
SENTINELS = (
    FORMER_NAME,
    ALIAS_NAME,
    IDENTIFIER,
    NOTE_BODY,
    LegalStatus.UNDER_INVESTIGATION.value,
    CHARGES,
    HEARING_NOTES,
)

ROLES = (
    "anonymous",
    "other_caseworker",
    "partner_without_referral",
    "partner_revoked",
    "partner",
    "supervisor",
    "administrator",
    "caseworker",
    "school",
    "registry",
    "psychologist",
)
# The demo's agencies (``lifecycle.demo_partners``): a school with an accepted schooling
# referral of a child's case, a civil registry with an accepted documents referral of the
# world's case, and a psychological service whose referral of it is still pending.
DEMO_AGENCY_ROLES = ("school", "registry", "psychologist")
PARTNER_ROLES = ("partner_without_referral", "partner_revoked", "partner", *DEMO_AGENCY_ROLES)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The world creates many users; real password hashing would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles(db):
    # Throttle counters live in the shared cache (the database's without Redis); each
    # test starts with a full budget.
    cache.clear()
    yield
    cache.clear()


@dataclass
class World:
    case: object
    child: object
    person: object
    family: object
    relative: object
    stage: object
    follow_up: object
    referral: object
    agency: object
    programme: object
    stage_type: object
    proceeding: object
    hearing: object
    users: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def client(self, role: str) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[role]}")
        return client


@pytest.fixture
def world(
    programme,
    other_programme,
    caseworker,
    other_caseworker,
    supervisor,
    administrator,
    agency,
    partner,
    partner_without_referral,
    case,
    other_case,
):
    person = case.person
    PersonName.objects.create(person=person, full_name="Testgiven Samplova", script="latin", kind="primary")
    PersonName.objects.create(person=person, full_name="Тестгивен Сэмплова", script="cyrillic", kind="spelling")
    PersonName.objects.create(person=person, full_name=FORMER_NAME, script="latin", kind="former")
    PersonName.objects.create(person=person, full_name=ALIAS_NAME, script="latin", kind="alias")
    PersonIdentifier.objects.create(person=person, kind="passport", value=IDENTIFIER, issuing_country="KZ")
    family = Family.objects.create(reference="F-TEST-1", label="Samplova household (test)")
    relative = f.PersonFactory(given_name="Relativegiven")
    FamilyMembership.objects.create(family=family, person=person, relationship="head")
    FamilyMembership.objects.create(family=family, person=relative, relationship="parent", role="receiving_relative")
    case.family = family
    case.legal_status = LegalStatus.UNDER_INVESTIGATION
    case.save()
    CaseNote.objects.create(case=case, author=caseworker, body=NOTE_BODY)

    # The partner's referral is for psychosocial support and accepted: it works on the
    # psychological stage (the one its purpose covers) and on nothing else.
    stage = case.enrolments.get().stages.get(stage_type__kind=StageKind.PSYCHOLOGICAL)
    follow_up = FollowUp.objects.create(stage=stage, kind="visit", due_date=timezone.localdate(), assignee=caseworker)
    referral = f.ReferralFactory(case=case, agency=agency, referred_by=caseworker, status=ReferralStatus.ACCEPTED)

    # A partner whose referral of the same case lost its consent.
    revoked_agency = f.AgencyFactory(code="revoked-agency")
    partner_revoked = f.UserFactory(username="partner-revoked", is_staff=False)
    revoked_agency.members.add(partner_revoked)
    revoked = f.ReferralFactory(case=case, agency=revoked_agency, referred_by=caseworker)
    revoked.consent.withdrawn_on = timezone.localdate() - datetime.timedelta(days=1)
    revoked.consent.given_on = revoked.consent.withdrawn_on - datetime.timedelta(days=3)
    revoked.consent.save()

    # Legal proceedings: read by the programme's supervisors (and legal officers), never by its
    # caseworkers nor by a partner referred for anything but legal aid.
    proceeding = LegalProceeding.objects.create(
        case=case, stage="charged", opened_on=timezone.localdate() - datetime.timedelta(days=60), charges=CHARGES
    )
    hearing = CourtHearing.objects.create(
        proceeding=proceeding,
        held_on=timezone.localdate() + datetime.timedelta(days=10),
        court="District court (test)",
        notes=HEARING_NOTES,
    )

    # A child's case beside it (school age), for the school.
    child = f.CaseFactory(
        person=f.PersonFactory(date_of_birth=f.born_years_ago(9)), caseworker=caseworker, reference="N-0002"
    )
    f.enrol(child, programme)
    demo_agencies = {}
    for role, kind, referred, purpose, status in (
        ("school", AgencyKind.SCHOOL, child, ConsentPurpose.SCHOOLING, ReferralStatus.ACCEPTED),
        ("registry", AgencyKind.CIVIL_REGISTRY, case, ConsentPurpose.DOCUMENTS, ReferralStatus.ACCEPTED),
        ("psychologist", AgencyKind.HEALTH, case, ConsentPurpose.PSYCHOSOCIAL, ReferralStatus.PENDING),
    ):
        demo_agency = f.AgencyFactory(code=f"demo-{role}", name=f"Demo {role} (test)", kind=kind)
        demo_agency.members.add(f.UserFactory(username=f"demo-{role}", is_staff=False))
        f.ReferralFactory(case=referred, agency=demo_agency, purpose=purpose, referred_by=caseworker, status=status)
        demo_agencies[role] = demo_agency

    users = {
        **{role: demo_agency.members.get() for role, demo_agency in demo_agencies.items()},
        "other_caseworker": other_caseworker,
        "partner_without_referral": partner_without_referral,
        "partner_revoked": partner_revoked,
        "partner": partner,
        "supervisor": supervisor,
        "administrator": administrator,
        "caseworker": caseworker,
    }
    tokens = {role: AuthToken.objects.create(user)[1] for role, user in users.items()}
    return World(
        case=case,
        child=child,
        person=person,
        family=family,
        relative=relative,
        stage=stage,
        follow_up=follow_up,
        referral=referral,
        agency=agency,
        programme=programme,
        stage_type=stage.stage_type,
        proceeding=proceeding,
        hearing=hearing,
        users=users,
        tokens=tokens,
    )


def all_keys(data) -> set[str]:
    """Every key anywhere in a JSON document."""
    keys = set()
    if isinstance(data, dict):
        for key, value in data.items():
            keys.add(key)
            keys |= all_keys(value)
    elif isinstance(data, list):
        for item in data:
            keys |= all_keys(item)
    return keys
