"""A new referral reaches the agency's members through a real SMTP server: one e-mail
each, a link and a reference, and no name of the person referred."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from casework.models import AgencyKind
from notifications import delivery
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_one_email_per_member_per_new_referral_and_no_name(settings, smtp_server, case, caseworker):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    agency = f.AgencyFactory(code="registry-3", name="Civil registry (test)", kind=AgencyKind.CIVIL_REGISTRY)
    for username in ("clerk", "registrar"):
        agency.members.add(f.UserFactory(username=username, email=f"{username}@registry.test", is_staff=False))
    person = case.person
    client = APIClient()
    client.force_authenticate(caseworker)
    references = []
    for purpose in ("documents", "general"):
        consent = f.ConsentFactory(person=person, agency=agency, purpose=purpose, recorded_by=caseworker)
        body = {"case": case.pk, "agency": agency.pk, "purpose": purpose, "consent": consent.pk}
        response = client.post(reverse("referral-list"), body, format="json")
        assert response.status_code == 201, response.content
        references.append(f"R-{response.json()['id']}")

    for claimed in delivery.notifications_claim():
        assert delivery.notification_send(notification_id=claimed) == "sent"

    messages = smtp_server.handler.messages
    assert sorted(message["To"] for message in messages) == sorted(
        ["clerk@registry.test", "registrar@registry.test"] * 2
    )
    for reference in references:
        assert sum(reference in message["Subject"] for message in messages) == 2
    for message in messages:
        text = message.as_string()
        assert "/api/v1/referrals/" in text and case.reference in text
        for name in (person.given_name, person.family_name):
            assert name not in text
