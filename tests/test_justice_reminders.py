"""Reminders before a court hearing and before an expected release: to the caseworker and the
supervisors, once, through the outbox, and never with anything of the proceedings but the date."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail

from justice import reminders
from justice.models import CourtHearing, LegalProceeding
from notifications import delivery
from notifications.models import Notification, NotificationStatus

pytestmark = pytest.mark.django_db

CHARGES = "Charges that never leave the system"
NOTES = "Notes that never leave the system"


@pytest.fixture
def today(programme):
    return programme.local_today()


@pytest.fixture
def proceeding(case, today):
    return LegalProceeding.objects.create(
        case=case,
        opened_on=today - datetime.timedelta(days=100),
        charges=CHARGES,
        detained_since=today - datetime.timedelta(days=90),
        expected_release_on=today + datetime.timedelta(days=10),
    )


@pytest.fixture
def hearing(proceeding, today):
    return CourtHearing.objects.create(
        proceeding=proceeding, held_on=today + datetime.timedelta(days=3), court="City court (test)", notes=NOTES
    )


def test_hearing_and_release_reminders_reach_the_caseworker_and_the_supervisor(
    hearing, proceeding, caseworker, supervisor, today
):
    assert reminders.reminders_materialize() == 4
    rows = set(Notification.objects.values_list("kind", "recipient__username", "due_on"))
    assert rows == {
        ("hearing_soon", "caseworker", hearing.held_on - datetime.timedelta(days=reminders.HEARING_DAYS_BEFORE)),
        ("hearing_soon", "supervisor", hearing.held_on - datetime.timedelta(days=reminders.HEARING_DAYS_BEFORE)),
        (
            "release_soon",
            "caseworker",
            proceeding.expected_release_on - datetime.timedelta(days=reminders.RELEASE_DAYS_BEFORE),
        ),
        (
            "release_soon",
            "supervisor",
            proceeding.expected_release_on - datetime.timedelta(days=reminders.RELEASE_DAYS_BEFORE),
        ),
    }
    # The sweep asks again: nothing new.
    assert reminders.reminders_materialize() == 0
    for notification in Notification.objects.all():
        delivery.notification_send_now(notification_id=notification.pk)
    assert len(mail.outbox) == 4
    for message in mail.outbox:
        text = message.subject + message.body + message.alternatives[0][0]
        assert "N-0001" in text
        assert CHARGES not in text and NOTES not in text and "City court" not in text
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects[0].startswith("Court hearing in 3 days") and subjects[-1].startswith("Release in 10 days")


def test_no_reminder_far_ahead_after_the_day_or_once_released(proceeding, hearing, today):
    hearing.held_on = today + datetime.timedelta(days=reminders.HEARING_DAYS_BEFORE + 1)
    hearing.save()
    proceeding.expected_release_on = today + datetime.timedelta(days=reminders.RELEASE_DAYS_BEFORE + 1)
    proceeding.save()
    assert reminders.reminders_materialize() == 0
    proceeding.expected_release_on = today + datetime.timedelta(days=2)
    proceeding.actual_release_on = today
    proceeding.save()
    assert reminders.reminders_materialize() == 0


def test_a_hearing_adjourned_before_the_e_mail_went_out_is_not_sent(hearing, caseworker, supervisor):
    reminders.reminders_materialize()
    hearing.outcome = "adjourned"
    hearing.save()
    for notification in Notification.objects.filter(kind="hearing_soon"):
        delivery.notification_send_now(notification_id=notification.pk)
    assert set(Notification.objects.filter(kind="hearing_soon").values_list("status", flat=True)) == {
        NotificationStatus.CANCELLED
    }
    assert mail.outbox == []
