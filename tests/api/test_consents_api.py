"""Consents and reassignment through the API: programme staff only, through the admin's services."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from casework.models import Consent
from notifications.models import Notification
from programmes.models import ProgrammeMembershipRole
from tests import factories as f

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_childs_consent_comes_from_a_named_guardian_and_is_withdrawn_by_action(programme, caseworker, partner):
    child = f.CaseFactory(person=f.PersonFactory(date_of_birth=f.born_years_ago(8)), caseworker=caseworker)
    f.enrol(child, programme, by=caseworker)
    yesterday = str(timezone.localdate() - datetime.timedelta(days=1))
    body = {"person": child.person.pk, "purpose": "schooling", "given_on": yesterday}
    refused = _client(caseworker).post(reverse("consent-list"), body, format="json")
    assert refused.status_code == 400 and not Consent.objects.exists()
    body.update(given_by="guardian", guardian_name="Guardian (test)")
    assert _client(partner).post(reverse("consent-list"), body, format="json").status_code == 403
    created = _client(caseworker).post(reverse("consent-list"), body, format="json")
    assert created.status_code == 201 and created.json()["recorded_by"] == caseworker.pk

    agency = f.AgencyFactory(code="school-9", kind="school")
    agency.members.add(f.UserFactory(username="teacher9", email="teacher9@school.test", is_staff=False))
    consent = Consent.objects.get()
    f.ReferralFactory(case=child, agency=agency, consent=consent, purpose="schooling", referred_by=caseworker)
    withdraw = reverse("consent-withdraw", kwargs={"pk": consent.pk})
    assert _client(partner).post(withdraw, {}, format="json").status_code == 403
    withdrawn = _client(caseworker).post(withdraw, {}, format="json")
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_on"] == str(timezone.localdate())
    assert Notification.objects.filter(kind="referral_ended").count() == 1
    assert _client(caseworker).post(withdraw, {}, format="json").status_code == 409


def test_reassignment_goes_to_staff_of_the_programme(programme, case, caseworker, other_caseworker, partner):
    colleague = f.add_member(programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER)
    url = reverse("case-assign", kwargs={"pk": case.pk})
    for stranger in (other_caseworker, partner, None):
        body = {"caseworker": stranger.pk if stranger else 999999}
        assert _client(caseworker).post(url, body, format="json").status_code == 400
    assert _client(partner).post(url, {"caseworker": colleague.pk}, format="json").status_code == 403
    moved = _client(caseworker).post(url, {"caseworker": colleague.pk}, format="json")
    assert moved.status_code == 200
    case.refresh_from_db()
    assert case.caseworker == colleague
    stage = case.enrolments.get().stages.first()
    assert stage.responsible_user == colleague
