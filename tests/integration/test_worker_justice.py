"""Hearing and release reminders through the real sweep, a real Celery worker on the real
Redis and a real SMTP server: each arrives once, to the caseworker and the supervisor,
naming the case and the date and nothing of the proceedings."""

import datetime

import pytest

from justice.models import CourtHearing, LegalProceeding
from notifications import delivery
from notifications.models import Notification, NotificationStatus
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration]

CHARGES = "Charges kept out of every e-mail"


def test_hearing_and_release_reminders_arrive_once(
    real_services, smtp_server, worker_factory, programme, case, caseworker, supervisor
):
    today = programme.local_today()
    proceeding = LegalProceeding.objects.create(
        case=case,
        opened_on=today - datetime.timedelta(days=100),
        charges=CHARGES,
        detained_since=today - datetime.timedelta(days=90),
        expected_release_on=today + datetime.timedelta(days=5),
    )
    CourtHearing.objects.create(
        proceeding=proceeding, held_on=today + datetime.timedelta(days=2), court="Appeal court (test)"
    )
    worker_factory()
    delivery.sweep()
    delivery.sweep()

    def all_sent():
        statuses = list(Notification.objects.values_list("status", flat=True))
        return len(statuses) == 4 and set(statuses) == {NotificationStatus.SENT}

    assert wait_for(all_sent, timeout=40), list(Notification.objects.values_list("kind", "status"))
    assert wait_for(lambda: len(smtp_server.handler.messages) >= 4)
    delivery.sweep()
    messages = smtp_server.handler.messages
    assert len(messages) == 4 and len(set(smtp_server.handler.message_ids())) == 4
    received = sorted((m["To"].split("@")[0], m["Subject"].split(" for ")[0]) for m in messages)
    assert received == [
        ("caseworker", "Court hearing in 2 days"),
        ("caseworker", "Release in 5 days"),
        ("supervisor", "Court hearing in 2 days"),
        ("supervisor", "Release in 5 days"),
    ]
    for message in messages:
        raw = message.as_string()
        assert "N-0001" in message["Subject"] and CHARGES not in raw and "Appeal court" not in raw
