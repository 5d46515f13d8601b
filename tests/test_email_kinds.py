"""The outbox learns its e-mail kinds from the apps that produce them (notifications.kinds).

A new kind is registered by its producer and sent by the outbox unchanged; a row of
a kind nobody registered is refused when it is created and never sent.
"""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives

from notifications import delivery, kinds
from notifications.models import Notification, NotificationStatus

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 3, 2)


@pytest.fixture
def welcome_kind():
    """A kind a new app would add: a welcome e-mail about a user account."""

    def render(notification):
        return EmailMultiAlternatives(
            subject="Welcome (test)",
            body=f"Account {notification.subject_id}",
            to=[notification.recipient.email],
            headers={"Message-ID": notification.message_id},
        )

    kind = kinds.EmailKind(key="welcome_test", label="Welcome", subject_types=("account",), render=render)
    kinds.register(kind)
    yield kind
    kinds._KINDS.pop(kind.key)


def test_every_producer_registered_its_kinds_at_start_up():
    assert {kind.key for kind in kinds.registered()} == {
        "upcoming",
        "overdue",
        "escalation",
        "stage_report",
        "closure_requested",
        "closure_decided",
        "hearing_soon",
        "release_soon",
        "referral_new",
        "referral_ended",
    }


def test_a_kind_registered_by_its_producer_is_sent_with_no_edit_to_the_outbox(welcome_kind, caseworker, mailoutbox):
    delivery.notification_create(
        kind="welcome_test", subject_type="account", subject_id=caseworker.pk, recipient=caseworker, due_on=DAY
    )
    (claimed,) = delivery.notifications_claim()
    assert delivery.notification_send(notification_id=claimed) == "sent"
    assert [message.subject for message in mailoutbox] == ["Welcome (test)"]
    notice = Notification.objects.get()
    assert (notice.status, notice.get_kind_display(), str(notice).startswith("Welcome for account")) == (
        NotificationStatus.SENT,
        "Welcome",
        True,
    )


def test_a_kind_nobody_registered_is_refused_at_creation(caseworker):
    with pytest.raises(ValidationError) as refused:
        delivery.notification_create(
            kind="no_such_kind", subject_type="account", subject_id=1, recipient=caseworker, due_on=DAY
        )
    assert "kind" in refused.value.message_dict
    assert not Notification.objects.exists()


def test_a_registered_kind_refuses_a_subject_it_is_not_about(welcome_kind, caseworker):
    with pytest.raises(ValidationError) as refused:
        delivery.notification_create(
            kind="welcome_test", subject_type="stage", subject_id=1, recipient=caseworker, due_on=DAY
        )
    assert "subject_type" in refused.value.message_dict
    assert not Notification.objects.exists()


def test_a_stored_row_whose_kind_is_no_longer_registered_is_cancelled_not_sent(caseworker, mailoutbox):
    notice = Notification.objects.create(
        kind="retired_kind", subject_type="account", subject_id=1, recipient=caseworker, due_on=DAY
    )
    (claimed,) = delivery.notifications_claim()
    assert claimed == notice.pk
    assert delivery.notification_send(notification_id=notice.pk) == "cancelled"
    assert mailoutbox == []
    assert Notification.objects.get().status == NotificationStatus.CANCELLED


def test_two_producers_cannot_claim_the_same_kind(welcome_kind):
    from django.core.exceptions import ImproperlyConfigured

    other = kinds.EmailKind(key="welcome_test", label="Other", subject_types=("account",), render=lambda n: None)
    with pytest.raises(ImproperlyConfigured):
        kinds.register(other)
    assert kinds.get("welcome_test") is welcome_kind
