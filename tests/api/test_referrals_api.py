"""Staff refer a case to an agency through the API, under a consent that covers it; the
agency's members are told by e-mail (a link and a reference, no name)."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from casework import services
from casework.models import AgencyKind, Referral, ReferralStatus
from notifications import delivery
from notifications.models import Notification
from tests import factories as f

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def school(db):
    agency = f.AgencyFactory(code="school-7", name="School No. 7 (test)", kind=AgencyKind.SCHOOL)
    for username in ("teacher", "head"):
        agency.members.add(f.UserFactory(username=username, email=f"{username}@school.test", is_staff=False))
    agency.members.add(f.UserFactory(username="no-mail", email="", is_staff=False))
    return agency


def _body(case, agency, consent, purpose="schooling") -> dict:
    return {
        "case": case.pk,
        "agency": agency.pk,
        "purpose": purpose,
        "consent": consent.pk,
        "note": "Grade 3 place needed (test)",
    }


def test_staff_refer_under_a_consent_and_the_agencys_members_are_told(case, caseworker, school):
    consent = f.ConsentFactory(person=case.person, agency=school, purpose="schooling", recorded_by=caseworker)
    response = _client(caseworker).post(reverse("referral-list"), _body(case, school, consent), format="json")

    assert response.status_code == 201, response.content
    referral = Referral.objects.get(pk=response.json()["id"])
    assert (referral.status, referral.referred_by) == (ReferralStatus.PENDING, caseworker)
    # One e-mail per member with an address, none for the member without one.
    notes = Notification.objects.filter(kind="referral_new", subject_id=referral.pk)
    assert sorted(notes.values_list("recipient__username", flat=True)) == ["head", "teacher"]


@pytest.mark.parametrize(
    "consent_of",
    ["other_purpose", "other_agency", "withdrawn", "expired", "other_person"],
)
def test_no_referral_without_a_current_consent_covering_agency_and_purpose(case, caseworker, school, consent_of):
    today = timezone.localdate()
    person = f.PersonFactory() if consent_of == "other_person" else case.person
    consent = f.ConsentFactory(
        person=person,
        agency=f.AgencyFactory(code="elsewhere") if consent_of == "other_agency" else school,
        purpose="housing" if consent_of == "other_purpose" else "schooling",
        recorded_by=caseworker,
    )
    if consent_of == "withdrawn":
        consent.withdrawn_on = today
    if consent_of == "expired":
        consent.expires_on = today - datetime.timedelta(days=1)
    consent.save()
    response = _client(caseworker).post(reverse("referral-list"), _body(case, school, consent), format="json")
    assert response.status_code == 400
    assert "consent" in response.json()["errors"]
    assert not Referral.objects.exists() and not Notification.objects.exists()


def test_partners_and_other_programmes_do_not_refer(case, caseworker, other_caseworker, partner, school):
    consent = f.ConsentFactory(person=case.person, agency=school, purpose="schooling", recorded_by=caseworker)
    body = _body(case, school, consent)
    assert _client(partner).post(reverse("referral-list"), body, format="json").status_code == 403
    refused = _client(other_caseworker).post(reverse("referral-list"), body, format="json")
    assert refused.status_code == 400 and {"case", "consent"} <= set(refused.json()["errors"])
    assert not Referral.objects.exists()


def test_a_consent_withdrawal_tells_the_agency_its_referral_ended(case, caseworker, school):
    consent = f.ConsentFactory(person=case.person, agency=school, purpose="schooling", recorded_by=caseworker)
    referral = f.ReferralFactory(case=case, agency=school, consent=consent, purpose="schooling", referred_by=caseworker)
    services.consent_withdraw(consent_id=consent.pk, by=caseworker)
    notes = Notification.objects.filter(kind="referral_ended", subject_id=referral.pk)
    assert notes.count() == 2
    for claimed in delivery.notifications_claim():
        assert delivery.notification_send(notification_id=claimed) == "sent"
