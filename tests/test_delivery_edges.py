"""The edges of outbox delivery: the reaper's timeouts, a worker killed mid-send,
one send's outcome touching one row only, "send now" on a sent notice, the
claim's batch and order, and the back-off between failed attempts."""

import datetime
import smtplib

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone

from lifecycle.closure import CLOSURE_REQUEST_SUBJECT, CLOSURE_REQUESTED, case_closure_request
from notifications import delivery
from notifications.models import Notification, NotificationStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

Status = NotificationStatus
SECOND = datetime.timedelta(seconds=1)


class WorkerKilled(BaseException):
    """The worker process dies while the SMTP conversation is under way."""


def die_mid_send(self, fail_silently=False):
    raise WorkerKilled()


def smtp_down(self, fail_silently=False):
    """The SMTP server is unreachable; like Django's SMTP backend, a silent send hides it."""
    if fail_silently:
        return 0
    raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed (test)")


@pytest.fixture
def notices(case, caseworker, supervisor):
    """Closure-request notices to the supervisor, pending and due: ``notices(n)`` makes n."""

    def make(count: int) -> list[Notification]:
        request = case_closure_request(case_id=case.pk, by=caseworker, reason="Settled (test).")
        for day in range(1, count):  # the same notice on other days: distinct rows
            delivery.notification_create(
                kind=CLOSURE_REQUESTED,
                subject_type=CLOSURE_REQUEST_SUBJECT,
                subject_id=request.pk,
                recipient=supervisor,
                due_on=datetime.date(2026, 1, day),
            )
        return list(Notification.objects.order_by("id"))

    return make


def claim_all(now=None) -> list[int]:
    """The sweep's claim; the send tasks it enqueues after commit are not run here."""
    return delivery.notifications_claim(now=now)


def reload(notification) -> Notification:
    return Notification.objects.get(pk=notification.pk)


def killed_mid_send(notification, monkeypatch) -> Notification:
    """Run the send task for ``notification`` in a worker that dies during the SMTP conversation."""
    with monkeypatch.context() as patch:
        patch.setattr(EmailMessage, "send", die_mid_send)
        with pytest.raises(WorkerKilled):
            delivery.notification_send(notification_id=notification.pk)
    row = reload(notification)
    assert row.status == Status.SENDING
    return row


# --- a worker killed mid-send, and the reaper ------------------------------------------------------


def test_a_worker_killed_mid_send_loses_nothing(notices, monkeypatch, settings):
    (notice,) = notices(1)
    claim_all()
    killed_mid_send(notice, monkeypatch)
    after_timeout = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)
    assert delivery.notifications_reap(now=after_timeout) == {"released": 0, "resent": 1}
    assert delivery.notification_send(notification_id=notice.pk) == "sent"
    row = reload(notice)
    assert (row.status, row.resends, row.attempts) == (Status.SENT, 1, 2)
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [notice.message_id]


def test_the_reaper_does_not_resend_a_send_still_within_its_timeout(notices, monkeypatch, settings):
    (notice,) = notices(1)
    claim_all()
    row = killed_mid_send(notice, monkeypatch)
    timeout = datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS)
    assert delivery.notifications_reap(now=row.sending_at + timeout - SECOND) == {"released": 0, "resent": 0}
    assert delivery.notifications_reap(now=row.sending_at + timeout) == {"released": 0, "resent": 0}
    assert reload(notice).status == Status.SENDING
    assert delivery.notifications_reap(now=row.sending_at + timeout + SECOND) == {"released": 0, "resent": 1}


def test_the_reaper_does_not_release_a_claim_still_within_its_timeout(notices, settings):
    (notice,) = notices(1)
    claim_all()
    claimed_at = reload(notice).claimed_at
    timeout = datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS)
    assert delivery.notifications_reap(now=claimed_at + timeout) == {"released": 0, "resent": 0}
    assert reload(notice).status == Status.CLAIMED
    assert delivery.notifications_reap(now=claimed_at + timeout + SECOND) == {"released": 1, "resent": 0}
    assert reload(notice).status == Status.PENDING


# --- one send's outcome touches its own row only -------------------------------------------------


@pytest.mark.parametrize("outcome", ["sent", "cancelled", "failed"])
def test_finishing_one_send_leaves_another_in_flight_untouched(notices, monkeypatch, supervisor, outcome):
    finishing, in_flight = notices(2)
    claim_all()
    in_flight = killed_mid_send(in_flight, monkeypatch)  # still being sent by another worker
    if outcome == "cancelled":
        Notification.objects.filter(pk=finishing.pk).update(recipient=f.UserFactory(username="no-address", email=""))
    if outcome == "failed":
        monkeypatch.setattr(EmailMessage, "send", smtp_down)
    assert delivery.notification_send(notification_id=finishing.pk) == outcome
    row = reload(in_flight)
    assert (row.status, row.sending_at, row.sent_at, row.attempts, row.last_error) == (
        Status.SENDING,
        in_flight.sending_at,
        None,
        1,
        "",
    )
    assert row.next_attempt_at == in_flight.next_attempt_at


# --- "send now" -----------------------------------------------------------------------------------


def test_send_now_does_not_send_a_sent_notice_again(notices):
    (notice,) = notices(1)
    assert delivery.notification_send_now(notification_id=notice.pk) == "sent"
    sent_at = reload(notice).sent_at
    assert delivery.notification_send_now(notification_id=notice.pk) == "skipped"
    assert len(mail.outbox) == 1
    row = reload(notice)
    assert (row.status, row.sent_at, row.attempts) == (Status.SENT, sent_at, 1)


def test_send_now_leaves_a_notice_a_sweep_has_claimed_to_the_sweep(notices):
    (notice,) = notices(1)
    claim_all()
    assert delivery.notification_send_now(notification_id=notice.pk) == "skipped"
    assert mail.outbox == []
    assert reload(notice).status == Status.CLAIMED


# --- the claim ------------------------------------------------------------------------------------


def test_a_claim_takes_the_longest_waiting_first_and_no_more_than_its_batch(notices):
    rows = notices(4)
    base = timezone.now()
    # Created in one order, due in another; the last is not due yet.
    due_in = {rows[0].pk: 3, rows[1].pk: 1, rows[2].pk: 2, rows[3].pk: 30}
    for pk, minutes in due_in.items():
        Notification.objects.filter(pk=pk).update(next_attempt_at=base + datetime.timedelta(minutes=minutes))
    now = base + datetime.timedelta(minutes=5)
    assert delivery.notifications_claim(limit=2, now=now) == [rows[1].pk, rows[2].pk]
    assert reload(rows[0]).status == Status.PENDING
    assert delivery.notifications_claim(limit=2, now=now) == [rows[0].pk]
    assert reload(rows[3]).status == Status.PENDING


def test_a_claim_without_a_limit_takes_the_configured_batch(notices, settings):
    notices(3)
    settings.NOTIFICATION_BATCH_SIZE = 2
    assert len(claim_all()) == 2
    assert Notification.objects.filter(status=Status.PENDING).count() == 1


# --- back-off -------------------------------------------------------------------------------------


def test_each_failed_attempt_waits_twice_as_long_up_to_the_ceiling(notices, monkeypatch, settings):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 60
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 300
    clock = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    monkeypatch.setattr(EmailMessage, "send", smtp_down)
    (notice,) = notices(1)
    waits = []
    for _attempt in range(5):
        assert delivery.notifications_claim(now=clock[0]) == [notice.pk]
        assert delivery.notification_send(notification_id=notice.pk) == "failed"
        row = reload(notice)
        assert row.status == Status.PENDING
        waits.append((row.next_attempt_at - clock[0]).total_seconds())
        # Not tried again a second early; tried once the wait is over.
        assert delivery.notifications_claim(now=row.next_attempt_at - SECOND) == []
        clock[0] = row.next_attempt_at
    assert waits == [60, 120, 240, 300, 300]
    assert reload(notice).attempts == 5


# --- send now, the reaper's second chance, and the sweep ---------------------------------------------


def test_send_now_sends_the_notice_asked_for_and_leaves_the_others_waiting(notices):
    first, second = notices(2)
    assert delivery.notification_send_now(notification_id=first.pk) == "sent"
    assert (reload(first).status, reload(second).status) == (Status.SENT, Status.PENDING)
    assert len(mail.outbox) == 1


def test_a_send_now_that_dies_before_sending_is_released_after_the_claim_timeout(notices, monkeypatch, settings):
    (notice,) = notices(1)

    def die(**kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(delivery, "notification_send", die)
    with pytest.raises(WorkerKilled):
        delivery.notification_send_now(notification_id=notice.pk)
    assert reload(notice).status == Status.CLAIMED
    after_timeout = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS + 60)
    assert delivery.notifications_reap(now=after_timeout) == {"released": 1, "resent": 0}
    assert reload(notice).status == Status.PENDING


def test_a_resend_whose_task_is_lost_again_is_released_after_the_claim_timeout(notices, monkeypatch, settings):
    (notice,) = notices(1)
    claim_all()
    killed_mid_send(notice, monkeypatch)
    reaped_at = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)
    assert delivery.notifications_reap(now=reaped_at) == {"released": 0, "resent": 1}
    # The re-send task never arrives (a flushed broker): the claim times out in turn.
    later = reaped_at + datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS + 60)
    assert delivery.notifications_reap(now=later) == {"released": 1, "resent": 0}
    assert reload(notice).status == Status.PENDING


def test_the_reaper_counts_no_resend_of_a_notice_sent_long_ago(notices, settings):
    (notice,) = notices(1)
    assert delivery.notification_send_now(notification_id=notice.pk) == "sent"
    much_later = timezone.now() + datetime.timedelta(days=30)
    assert delivery.notifications_reap(now=much_later) == {"released": 0, "resent": 0}
    assert reload(notice).status == Status.SENT
    assert len(mail.outbox) == 1


def test_a_sweep_asks_each_registered_producer_once_and_claims_every_due_notice_in_batches(
    notices, monkeypatch, settings
):
    made = notices(3)
    settings.NOTIFICATION_BATCH_SIZE = 2
    calls = []

    def producer(*, now):
        calls.append(now)
        return 2

    monkeypatch.setattr(delivery, "_DUE_PRODUCERS", [])
    delivery.register_due_producer(producer)
    delivery.register_due_producer(producer)  # a second start-up registers it again
    now = timezone.now()
    result = delivery.sweep(now=now)
    assert calls == [now]
    assert result.due == 2
    assert result.reaped == {"released": 0, "resent": 0}
    assert sorted(result.claimed) == sorted(n.pk for n in made)
    assert {reload(n).status for n in made} == {Status.CLAIMED}


# --- one send: what it answers, records and counts ------------------------------------------------


def sends(outcome: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("rehab_notification_sends_total", {"outcome": outcome}) or 0.0


def test_a_send_task_for_a_notice_nobody_claimed_sends_nothing(notices):
    (notice,) = notices(1)
    assert delivery.notification_send(notification_id=notice.pk) == "skipped"
    assert mail.outbox == []
    row = reload(notice)
    assert (row.status, row.attempts) == (Status.PENDING, 0)


def test_a_failed_send_is_recorded_with_its_reason_and_counted(notices, monkeypatch, caplog):
    (notice,) = notices(1)
    claim_all()
    before = sends("failed")
    monkeypatch.setattr(EmailMessage, "send", smtp_down)
    assert delivery.notification_send(notification_id=notice.pk) == "failed"
    row = reload(notice)
    assert row.status == Status.PENDING
    assert row.last_error == "SMTPServerDisconnected: Connection unexpectedly closed (test)"
    assert sends("failed") == before + 1
    # The operators' log line names the notice, the attempt and the kind of error, nothing of the message.
    assert f"notification {notice.pk} not sent (attempt 1): SMTPServerDisconnected" in caplog.messages


def test_a_long_error_is_cut_to_what_the_outbox_keeps_and_cleared_once_sent(notices, monkeypatch):
    (notice,) = notices(1)
    claim_all()

    def long_failure(self, fail_silently=False):
        raise smtplib.SMTPResponseException(554, "x" * 1000)

    monkeypatch.setattr(EmailMessage, "send", long_failure)
    assert delivery.notification_send(notification_id=notice.pk) == "failed"
    assert len(reload(notice).last_error) == 500
    monkeypatch.undo()
    assert delivery.notification_send_now(notification_id=notice.pk) == "sent"
    assert reload(notice).last_error == ""


@pytest.mark.parametrize("outcome", ["sent", "cancelled"])
def test_each_outcome_is_counted_under_its_own_name(notices, outcome):
    (notice,) = notices(1)
    claim_all()
    if outcome == "cancelled":
        Notification.objects.filter(pk=notice.pk).update(recipient=f.UserFactory(username="no-address", email=""))
    before = {name: sends(name) for name in ("sent", "cancelled", "failed")}
    assert delivery.notification_send(notification_id=notice.pk) == outcome
    after = {name: sends(name) for name in ("sent", "cancelled", "failed")}
    assert after == {**before, outcome: before[outcome] + 1}


def test_a_send_that_finishes_after_the_reaper_took_the_notice_back_leaves_it_to_the_resend(
    notices, monkeypatch, settings
):
    (notice,) = notices(1)
    claim_all()
    late = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)

    def slow_send(self, fail_silently=False):
        # The SMTP conversation outlasts the sending timeout: the reaper takes the row back.
        assert delivery.notifications_reap(now=late) == {"released": 0, "resent": 1}
        return 1

    monkeypatch.setattr(EmailMessage, "send", slow_send)
    assert delivery.notification_send(notification_id=notice.pk) == "sent"
    row = reload(notice)
    assert (row.status, row.resends) == (Status.CLAIMED, 1)


def test_the_reaper_resends_only_the_stuck_send_and_says_what_it_did(notices, monkeypatch, settings, caplog):
    stuck, recent, lost_claim = notices(3)
    claim_all()
    stuck = killed_mid_send(stuck, monkeypatch)
    timeout = datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS)
    now = stuck.sending_at + timeout + SECOND
    Notification.objects.filter(pk=lost_claim.pk).update(claimed_at=now - datetime.timedelta(days=1))
    Notification.objects.filter(pk=recent.pk).update(status=Status.SENDING, sending_at=now - SECOND)
    assert delivery.notifications_reap(now=now) == {"released": 1, "resent": 1}
    assert (reload(stuck).status, reload(recent).status, reload(lost_claim).status) == (
        Status.CLAIMED,
        Status.SENDING,
        Status.PENDING,
    )
    assert "reaper: 1 claimed rows released, 1 sending rows re-sent" in caplog.messages


def test_a_reaper_that_finds_nothing_says_nothing(notices, caplog):
    notices(1)
    assert delivery.notifications_reap(now=timezone.now()) == {"released": 0, "resent": 0}
    assert not [m for m in caplog.messages if m.startswith("reaper:")]


def test_a_reaper_that_only_releases_claims_says_so(notices, settings, caplog):
    (notice,) = notices(1)
    claim_all()
    later = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS + 60)
    assert delivery.notifications_reap(now=later) == {"released": 1, "resent": 0}
    assert "reaper: 1 claimed rows released, 0 sending rows re-sent" in caplog.messages


def test_the_same_notice_added_twice_is_kept_once(notices, supervisor):
    (notice,) = notices(1)
    delivery.notification_create(
        kind=notice.kind,
        subject_type=notice.subject_type,
        subject_id=notice.subject_id,
        recipient=supervisor,
        due_on=notice.due_on,
    )
    assert Notification.objects.count() == 1


def test_a_claim_enqueues_one_send_task_per_notice_with_its_id_only_after_commit(
    notices, monkeypatch, django_capture_on_commit_callbacks
):
    from notifications.tasks import send_notification

    rows = notices(2)
    enqueued = []
    monkeypatch.setattr(send_notification, "apply_async", lambda args, **kwargs: enqueued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        claimed = claim_all()
        assert enqueued == []  # nothing leaves before the claim is committed
    assert sorted(claimed) == sorted(n.pk for n in rows)
    assert sorted(enqueued) == sorted((n.pk,) for n in rows)


# --- the reaper's re-send, a late failure, and a sweep run for a given time -------------------------


def test_a_resend_the_reaper_starts_goes_out_under_the_same_message_id(
    notices, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from notifications.tasks import send_notification

    (notice,) = notices(1)
    claim_all()
    killed_mid_send(notice, monkeypatch)
    enqueued = []
    monkeypatch.setattr(send_notification, "apply_async", lambda args, **kwargs: enqueued.append(args))
    later = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.notifications_reap(now=later) == {"released": 0, "resent": 1}
    # The re-send is queued once the reaper's transaction is committed, and it goes out.
    assert enqueued == [(notice.pk,)]
    assert delivery.notification_send(notification_id=notice.pk) == "sent"
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [notice.message_id]


def test_a_send_that_fails_after_the_reaper_took_the_notice_back_leaves_it_to_the_resend(
    notices, monkeypatch, settings
):
    (notice,) = notices(1)
    claim_all()
    late = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)

    def slow_failure(self, fail_silently=False):
        # The SMTP conversation outlasts the sending timeout, then fails: by then the
        # reaper has handed the notice to a re-send, which the failure must not undo.
        assert delivery.notifications_reap(now=late) == {"released": 0, "resent": 1}
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed (test)")

    monkeypatch.setattr(EmailMessage, "send", slow_failure)
    assert delivery.notification_send(notification_id=notice.pk) == "failed"
    row = reload(notice)
    assert (row.status, row.resends, row.last_error) == (Status.CLAIMED, 1, "")


def test_a_sweep_run_for_a_given_time_reaps_and_claims_as_of_that_time(notices, monkeypatch, settings, supervisor):
    (stuck,) = notices(1)
    claim_all()
    killed_mid_send(stuck, monkeypatch)
    delivery.notification_create(
        kind=CLOSURE_REQUESTED,
        subject_type=CLOSURE_REQUEST_SUBJECT,
        subject_id=stuck.subject_id,
        recipient=supervisor,
        due_on=datetime.date(2026, 2, 1),
    )
    later_one = Notification.objects.get(status=Status.PENDING)
    hours_ahead = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 7200)
    Notification.objects.filter(pk=later_one.pk).update(next_attempt_at=hours_ahead - SECOND)
    result = delivery.sweep(now=hours_ahead)
    # As of that time the first send is stuck (re-sent) and the second notice is due (claimed).
    assert result.reaped == {"released": 0, "resent": 1}
    assert later_one.pk in result.claimed
    assert reload(later_one).status == Status.CLAIMED


def test_a_resend_waits_a_full_claim_timeout_from_the_moment_the_reaper_started_it(notices, monkeypatch, settings):
    (notice,) = notices(1)
    claim_all()
    killed_mid_send(notice, monkeypatch)
    reaped_at = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)
    assert delivery.notifications_reap(now=reaped_at) == {"released": 0, "resent": 1}
    assert reload(notice).claimed_at == reaped_at
    # Its task has the whole claim timeout to arrive, counted from the re-send, not from the first claim.
    timeout = datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS)
    assert delivery.notifications_reap(now=reaped_at + timeout - SECOND) == {"released": 0, "resent": 0}
    assert reload(notice).status == Status.CLAIMED


# --- the outbox's bulk producer (``notifications_add``, which the reminders call) ------------------


def reminder_key(user, *, subject_id=1, day=None) -> tuple:
    return ("stage_overdue", "stage", subject_id, user.pk, day or timezone.localdate())


def test_a_deactivated_account_is_put_in_no_reminder(caseworker, supervisor):
    """A caseworker who has left is deactivated: the sweep's reminders skip them, while an
    active colleague named in the same sweep gets theirs."""
    caseworker.is_active = False
    caseworker.save(update_fields=["is_active"])
    added = delivery.notifications_add({reminder_key(caseworker), reminder_key(supervisor)})
    assert added == 1
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [supervisor.pk]


def test_a_reminder_already_in_the_outbox_is_not_added_twice_nor_fails_the_sweep(caseworker, supervisor):
    """Two sweeps racing (or a sweep after a crash) may name a reminder already added: the
    outbox keeps one row and the sweep goes on with the others."""
    delivery.notifications_add({reminder_key(caseworker)})
    delivery.notifications_add({reminder_key(caseworker), reminder_key(supervisor)})
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted([caseworker.pk, supervisor.pk])
