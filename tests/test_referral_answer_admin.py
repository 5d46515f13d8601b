"""The admin records an agency's answer to a referral (given by letter or telephone) through
the same service as the API: who, when and why; the status is never typed by hand, and
the referring caseworker reads the answer on the case page."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from casework.models import ConsentPurpose, Referral, ReferralStatus
from core.roles import role_groups_sync
from tests import factories as f
from tests.test_admin import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


@pytest.fixture
def referral(case, caseworker):
    agency = f.AgencyFactory(code="school-a", name="School A (test)", kind="school")
    return f.ReferralFactory(case=case, agency=agency, purpose=ConsentPurpose.PSYCHOSOCIAL, referred_by=caseworker)


def _form(referral, **extra) -> dict:
    return {
        "case": referral.case_id,
        "agency": referral.agency_id,
        "stage": "",
        "purpose": referral.purpose,
        "consent": referral.consent_id,
        "note": referral.note,
        "referred_on": str(referral.referred_on),
        **extra,
    }


def _url(referral) -> str:
    return reverse("admin:casework_referral_change", args=[referral.pk])


def test_the_status_is_not_a_form_field(client, caseworker, referral):
    staff_login(client, caseworker)
    page = client.get(_url(referral)).content.decode()
    assert 'name="status"' not in page
    assert 'name="answer"' in page
    # A forged status is ignored: only the answer moves it.
    client.post(_url(referral), _form(referral, status="accepted"))
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.PENDING


def test_a_decline_needs_a_reason_and_records_who_when_why(client, caseworker, referral):
    staff_login(client, caseworker)
    refused = client.post(_url(referral), _form(referral, answer="decline", answer_reason=""))
    assert refused.status_code == 200  # the form again, with the error
    assert "Say why the agency declines" in refused.content.decode()
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.PENDING

    saved = client.post(_url(referral), _form(referral, answer="decline", answer_reason="No places (by phone)"))
    assert saved.status_code == 302, saved.content[:500]
    referral.refresh_from_db()
    assert (referral.status, referral.responded_by, referral.response_reason) == (
        ReferralStatus.DECLINED,
        caseworker,
        "No places (by phone)",
    )
    assert referral.responded_on == datetime.date.today()
    # Answered: the form no longer offers an answer.
    assert 'name="answer"' not in client.get(_url(referral)).content.decode()
    # The caseworker reads the answer on the case page.
    case_page = client.get(reverse("admin:casework_case_change", args=[referral.case_id])).content.decode()
    assert "No places (by phone)" in case_page


def test_an_accept_from_the_admin_goes_through_the_service(client, caseworker, referral):
    staff_login(client, caseworker)
    saved = client.post(_url(referral), _form(referral, answer="accept", answer_reason=""))
    assert saved.status_code == 302
    referral.refresh_from_db()
    assert (referral.status, referral.responded_by, referral.response_reason) == (
        ReferralStatus.ACCEPTED,
        caseworker,
        "",
    )


def test_the_case_page_inline_does_not_edit_the_status(client, caseworker, referral):
    staff_login(client, caseworker)
    page = client.get(reverse("admin:casework_case_change", args=[referral.case_id])).content.decode()
    assert "referrals-0-status" not in page
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING
