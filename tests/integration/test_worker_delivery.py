"""Reminders through a real Celery worker on the real Redis to a real SMTP server.

Each scenario makes a handful of follow-ups overdue since yesterday, so that a
sweep has one overdue reminder per follow-up to deliver, and then checks what
the SMTP server received: everything, once, or, in the one unavoidable window,
a second copy with the same Message-ID.
"""

import datetime
import threading
from collections import Counter

import pytest
import redis
from django.db import connections
from django.utils import timezone

from notifications import delivery
from notifications.models import Notification, NotificationStatus
from programmes import workflow
from programmes.models import FollowUp, StageRecord
from tests import factories as f
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration]

REMINDERS = 6


@pytest.fixture
def overdue_follow_ups(real_services, programme, caseworker):
    """Six open follow-ups that fell due yesterday on the programme's calendar."""
    yesterday = programme.local_today() - datetime.timedelta(days=1)
    for n in range(REMINDERS):
        case = f.CaseFactory(caseworker=caseworker, reference=f"IT-{n:03d}")
        f.enrol(case, programme, by=caseworker)
        stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
        workflow.stage_start(stage_id=stage.pk, by=caseworker)
        FollowUp.objects.filter(stage=stage).update(due_date=yesterday)
    # Only the follow-ups are due: stage deadlines are far ahead.
    StageRecord.objects.update(due_date=programme.local_today() + datetime.timedelta(days=300))
    return FollowUp.objects.all()


def statuses():
    return Counter(Notification.objects.values_list("status", flat=True))


def all_sent():
    return statuses() == {NotificationStatus.SENT: REMINDERS}


def sweep_in_thread(barrier=None, now=None):
    try:
        if barrier:
            barrier.wait()
        delivery.sweep(now=now)
    finally:
        connections.close_all()


def test_due_reminders_arrive_once_though_swept_twice_and_concurrently(overdue_follow_ups, smtp_server, worker_factory):
    worker_factory()
    delivery.sweep()
    delivery.sweep()
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=sweep_in_thread, args=(barrier,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wait_for(all_sent), statuses()
    assert wait_for(lambda: len(smtp_server.handler.messages) >= REMINDERS)
    # Give a duplicate every chance to show up.
    delivery.sweep()
    threading.Event().wait(2)
    ids = smtp_server.handler.message_ids()
    assert len(ids) == REMINDERS and len(set(ids)) == REMINDERS
    references = sorted(m["Subject"].split("case ")[1].split(" ")[0] for m in smtp_server.handler.messages)
    assert references == [f"IT-{n:03d}" for n in range(REMINDERS)]
    first = smtp_server.handler.messages[0]
    assert first.is_multipart() and {p.get_content_type() for p in first.get_payload()} == {"text/plain", "text/html"}


def test_smtp_down_nothing_marked_sent_then_everything_arrives_once(overdue_follow_ups, smtp_server, worker_factory):
    smtp_server.stop()
    worker_factory()
    delivery.sweep()
    assert wait_for(
        lambda: Notification.objects.filter(attempts__gte=1, status=NotificationStatus.PENDING).count() == REMINDERS
    ), statuses()
    assert not Notification.objects.filter(status=NotificationStatus.SENT).exists()
    assert all(n.last_error for n in Notification.objects.all())
    smtp_server.start()
    # Later sweeps (the beat runs them every minute) pick them up after the back-off.
    assert wait_for(lambda: (delivery.sweep(), all_sent())[1], timeout=40, interval=1), statuses()
    ids = smtp_server.handler.message_ids()
    assert len(ids) == REMINDERS and len(set(ids)) == REMINDERS


def test_worker_killed_mid_send_loses_nothing_and_resends_with_the_same_message_id(
    overdue_follow_ups, smtp_server, worker_factory
):
    smtp_server.handler.delay = 4  # the server holds its "250" while the worker waits
    worker = worker_factory()
    delivery.sweep()
    assert wait_for(lambda: len(smtp_server.handler.messages) >= 1)
    worker.kill()  # SIGKILL: the message was accepted but the worker never heard so
    stuck = statuses()
    assert stuck[NotificationStatus.SENDING] >= 1, stuck
    assert stuck[NotificationStatus.SENT] < REMINDERS
    smtp_server.handler.delay = 0
    worker_factory()
    # Time passes: the reaper finds rows stuck in sending and in claimed.
    later = timezone.now() + datetime.timedelta(seconds=1000)
    reaped = delivery.notifications_reap(now=later)
    assert reaped["resent"] >= 1
    assert wait_for(lambda: (delivery.sweep(now=later), all_sent())[1], timeout=40, interval=1), statuses()
    received = Counter(smtp_server.handler.message_ids())
    expected_ids = {n.message_id for n in Notification.objects.all()}
    assert set(received) == expected_ids  # every reminder arrived
    duplicates = {mid: count for mid, count in received.items() if count > 1}
    resent = {n.message_id for n in Notification.objects.filter(resends__gte=1)}
    # The message in flight when the worker died arrived twice, both copies under
    # one Message-ID; any second copy is such a re-send.
    assert duplicates and set(duplicates) <= resent
    assert sum(received.values()) <= REMINDERS + sum(Notification.objects.values_list("resends", flat=True))


def test_flushed_redis_loses_nothing(overdue_follow_ups, smtp_server, worker_factory, real_services):
    delivery.sweep()  # claimed, and tasks queued in Redis, but no worker yet
    assert statuses() == {NotificationStatus.CLAIMED: REMINDERS}
    redis.Redis.from_url(real_services).flushdb()
    worker_factory()
    threading.Event().wait(3)
    assert smtp_server.handler.messages == []
    later = timezone.now() + datetime.timedelta(seconds=1000)
    assert delivery.notifications_reap(now=later)["released"] == REMINDERS
    assert wait_for(lambda: (delivery.sweep(now=later), all_sent())[1], timeout=40, interval=1), statuses()
    ids = smtp_server.handler.message_ids()
    assert len(ids) == REMINDERS and len(set(ids)) == REMINDERS
