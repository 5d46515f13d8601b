"""Which reminders fall due, on the programme's calendar, and how they are delivered."""

import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command

from config.celery import app
from notifications import delivery
from lifecycle.closure import CLOSURE_REQUESTED
from notifications.models import Notification, NotificationStatus
from programmes import workflow
from programmes.models import FollowUp, StageRecord
from programmes.reminders import reminders_materialize

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")


def at_local(day: datetime.date, hour=9):
    """An instant on the given local day in the programme's zone (Asia/Almaty)."""
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=ALMATY)


@pytest.fixture
def follow_up(case, caseworker, supervisor):
    """An open psychological-care follow-up due on 2026-12-10 (N=2 days before, M=7 days after)."""
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
    workflow.stage_start(stage_id=stage.pk, by=caseworker)
    follow_up = FollowUp.objects.get(stage=stage)
    follow_up.due_date = datetime.date(2026, 12, 10)
    follow_up.save()
    # Keep the stage's own deadline out of these tests.
    StageRecord.objects.filter(enrolment__case=case).update(due_date=datetime.date(2027, 6, 1))
    return follow_up


def reminders():
    return sorted(Notification.objects.values_list("kind", "recipient__username", "due_on", "subject_type"))


D = datetime.date


@pytest.mark.parametrize(
    "day, expected",
    [
        (D(2026, 12, 7), []),
        (D(2026, 12, 8), [("upcoming", "caseworker", D(2026, 12, 8), "follow_up")]),
        (D(2026, 12, 10), [("upcoming", "caseworker", D(2026, 12, 8), "follow_up")]),  # missed days catch up
        (D(2026, 12, 11), [("overdue", "caseworker", D(2026, 12, 11), "follow_up")]),
        (
            D(2026, 12, 17),
            [
                ("escalation", "supervisor", D(2026, 12, 17), "follow_up"),
                ("overdue", "caseworker", D(2026, 12, 11), "follow_up"),
            ],
        ),
        (D(2027, 1, 30), []),  # long past the catch-up window
    ],
)
def test_reminders_due_on_each_day(follow_up, day, expected):
    reminders_materialize(now=at_local(day))
    assert reminders() == expected


def test_the_local_calendar_day_decides(follow_up):
    # 20:30 UTC on 7 December is already 8 December in Almaty (UTC+5).
    reminders_materialize(now=datetime.datetime(2026, 12, 7, 20, 30, tzinfo=datetime.UTC))
    assert reminders() == [("upcoming", "caseworker", D(2026, 12, 8), "follow_up")]


def test_days_before_come_from_the_stage_type(follow_up):
    follow_up.stage.stage_type.__class__.objects.filter(pk=follow_up.stage.stage_type_id).update(remind_days_before=5)
    reminders_materialize(now=at_local(D(2026, 12, 5)))
    assert reminders() == [("upcoming", "caseworker", D(2026, 12, 5), "follow_up")]


def test_materialising_twice_creates_once(follow_up):
    reminders_materialize(now=at_local(D(2026, 12, 17)))
    reminders_materialize(now=at_local(D(2026, 12, 17)))
    assert Notification.objects.count() == 2


def test_done_cancelled_or_unreachable_follow_ups_are_not_reminded(follow_up, caseworker):
    caseworker.email = ""
    caseworker.save()
    reminders_materialize(now=at_local(D(2026, 12, 11)))
    assert reminders() == []
    caseworker.email = "caseworker@test.rehab.example"
    caseworker.save()
    FollowUp.objects.filter(pk=follow_up.pk).update(done_on=D(2026, 12, 9), outcome="Held (test).")
    reminders_materialize(now=at_local(D(2026, 12, 11)))
    assert reminders() == []


def test_stage_due_dates_are_reminded_too(case, caseworker, supervisor):
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="accommodation")
    StageRecord.objects.filter(enrolment__case=case).exclude(pk=stage.pk).update(due_date=D(2027, 6, 1))
    reminders_materialize(now=at_local(stage.due_date + datetime.timedelta(days=1)))
    assert reminders() == [("overdue", "caseworker", stage.due_date + datetime.timedelta(days=1), "stage")]


# --- delivery -------------------------------------------------------------------------------


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    """Send tasks run in this process when their transaction commits."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = previous


def test_sweep_twice_sends_once_and_names_no_one(follow_up, eager):
    with eager(execute=True):
        delivery.sweep(now=at_local(D(2026, 12, 17)))
    with eager(execute=True):
        delivery.sweep(now=at_local(D(2026, 12, 17)))
    assert sorted(m.to[0] for m in mail.outbox) == ["caseworker@test.rehab.example", "supervisor@test.rehab.example"]
    person = follow_up.stage.enrolment.case.person
    for message in mail.outbox:
        html = message.alternatives[0][0]
        assert (
            follow_up.stage.enrolment.case.reference in message.body
            and follow_up.stage.enrolment.case.reference in html
        )
        for text in (message.subject, message.body, html):
            assert person.given_name not in text and person.family_name not in text
        assert message.extra_headers["Message-ID"].startswith("<notification-")
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}


def test_a_redelivered_send_task_does_nothing(follow_up, eager):
    with eager(execute=True):
        delivery.sweep(now=at_local(D(2026, 12, 11)))
    notification = Notification.objects.get()
    assert delivery.notification_send(notification_id=notification.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_smtp_down_keeps_the_notification_pending_with_backoff(follow_up, settings, eager):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens there
    with eager(execute=True):
        delivery.sweep(now=at_local(D(2026, 12, 11)))
    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1 and notification.sent_at is None
    assert "Connection" in notification.last_error or "refused" in notification.last_error.lower()
    assert notification.next_attempt_at > notification.created_at
    # Not claimed again before its back-off has passed.
    assert delivery.notifications_claim(now=notification.next_attempt_at - datetime.timedelta(seconds=1)) == []


def test_a_follow_up_done_before_sending_is_not_reminded(follow_up, caseworker, eager):
    reminders_materialize(now=at_local(D(2026, 12, 11)))
    FollowUp.objects.filter(pk=follow_up.pk).update(done_on=D(2026, 12, 11), outcome="Held (test).")
    with eager(execute=True):
        delivery.notifications_claim()
    assert mail.outbox == []
    assert Notification.objects.get().status == NotificationStatus.CANCELLED


def test_reaper_releases_lost_claims_and_resends_stuck_sends_with_the_same_message_id(follow_up, eager, settings):
    reminders_materialize(now=at_local(D(2026, 12, 17)))
    overdue, escalation = Notification.objects.order_by("kind")  # escalation < overdue
    with eager(execute=False):  # claimed, but the broker "loses" the tasks
        delivery.notifications_claim()
    Notification.objects.filter(pk=overdue.pk).update(status=NotificationStatus.SENDING)  # a worker died mid-send
    later = Notification.objects.get(pk=overdue.pk).claimed_at + datetime.timedelta(
        seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 1
    )
    Notification.objects.filter(pk=overdue.pk).update(
        sending_at=later - datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 1)
    )
    with eager(execute=True):
        assert delivery.notifications_reap(now=later) == {"released": 1, "resent": 1}
    with eager(execute=True):
        delivery.notifications_claim(now=later)
    assert len(mail.outbox) == 2
    resent = Notification.objects.get(pk=overdue.pk)
    assert resent.resends == 1 and resent.status == NotificationStatus.SENT
    assert {m.extra_headers["Message-ID"] for m in mail.outbox} == {overdue.message_id, escalation.message_id}


def test_closure_request_notice_is_delivered(case, caseworker, supervisor, eager):
    from lifecycle.closure import case_closure_request

    case_closure_request(case_id=case.pk, by=caseworker, reason="Settled (test).")
    with eager(execute=True):
        delivery.notifications_claim()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [supervisor.email]
    assert case.reference in mail.outbox[0].subject
    assert Notification.objects.get().kind == CLOSURE_REQUESTED


def test_send_reminders_command(follow_up, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: at_local(D(2026, 12, 11)).astimezone(datetime.UTC))
    out = StringIO()
    call_command("send_reminders", "--dry-run", stdout=out)
    assert "would send" in out.getvalue() and "overdue follow_up" in out.getvalue()
    assert not Notification.objects.exists() and mail.outbox == []
    out = StringIO()
    call_command("send_reminders", stdout=out)
    assert "sent      #" in out.getvalue()
    assert len(mail.outbox) == 1
    out = StringIO()
    call_command("send_reminders", stdout=out)
    assert len(mail.outbox) == 1 and "sent 0" in out.getvalue()


def test_one_sweep_drains_a_backlog_larger_than_a_batch(case, caseworker, supervisor, settings, eager):
    from lifecycle.closure import case_closure_request
    from notifications.delivery import notification_create

    settings.NOTIFICATION_BATCH_SIZE = 2
    request = case_closure_request(case_id=case.pk, by=caseworker, reason="Settled (test).")
    for days in range(1, 5):  # four more notices, on other days
        notification_create(
            kind=CLOSURE_REQUESTED,
            subject_type="closure_request",
            subject_id=request.pk,
            recipient=supervisor,
            due_on=D(2026, 1, days),
        )
    with eager(execute=True):
        result = delivery.sweep()
    assert len(result.claimed) == 5
    assert len(mail.outbox) == 5
