"""Two sweeps at once, on PostgreSQL: the claim and the reaper lock the rows they take
(``SELECT ... FOR UPDATE SKIP LOCKED``), so a second sweep running while the first is
still in its transaction takes the other rows, or none, at once: it never waits for the
first, and no notice is claimed or re-sent twice.

SQLite has no row locks, so these tests run only when DATABASE_URL is PostgreSQL (as in
CI, where they fail if a lock or its SKIP LOCKED is dropped)."""

import datetime
import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from notifications import delivery
from notifications.models import Notification, NotificationStatus
from tests.test_delivery_edges import killed_mid_send, notices  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

Status = NotificationStatus
# Long enough for a second sweep that does not wait to finish on a busy machine.
PATIENCE = 15


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The send tasks the sweeps enqueue after commit are recorded, not sent."""
    from notifications.tasks import send_notification

    enqueued = []
    monkeypatch.setattr(send_notification, "apply_async", lambda args, **kwargs: enqueued.append(args[0]))
    return enqueued


class FirstSweep(threading.Thread):
    """Runs ``step`` in its own connection and transaction, and keeps that transaction
    (and the row locks ``step`` took) open until ``finish()``."""

    def __init__(self, step):
        super().__init__(daemon=True)
        self.step = step
        self.result = None
        self.error = None
        self.holding = threading.Event()
        self.release = threading.Event()

    def run(self):
        try:
            with transaction.atomic():
                self.result = self.step()
                self.holding.set()
                self.release.wait(PATIENCE * 2)
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.holding.set()
        finally:
            connections.close_all()

    def finish(self):
        self.release.set()
        self.join(PATIENCE * 2)
        assert self.error is None, self.error
        return self.result


def while_held(first: FirstSweep, second_step):
    """Run ``second_step`` in another connection while ``first`` holds its locks; return
    its result and whether it finished without waiting for ``first`` to commit."""
    outcome = {}

    def second():
        try:
            outcome["result"] = second_step()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    first.start()
    assert first.holding.wait(PATIENCE)
    runner = threading.Thread(target=second, daemon=True)
    runner.start()
    runner.join(PATIENCE)
    waited = runner.is_alive()
    first_result = first.finish()
    runner.join(PATIENCE)
    assert "error" not in outcome, outcome.get("error")
    return first_result, outcome.get("result"), not waited


def test_a_second_claim_takes_the_other_notices_at_once_and_none_twice(notices, no_broker):  # noqa: F811
    rows = notices(4)
    first = FirstSweep(lambda: delivery.notifications_claim(limit=2))
    taken_first, taken_second, without_waiting = while_held(first, lambda: delivery.notifications_claim(limit=4))
    assert without_waiting, "the second claim waited for the first one's transaction"
    assert len(taken_first) == 2
    assert set(taken_first).isdisjoint(taken_second)
    assert sorted(taken_first + taken_second) == sorted(n.pk for n in rows)
    # Each notice is claimed once and gets one send task.
    assert sorted(no_broker) == sorted(n.pk for n in rows)
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.CLAIMED}


def test_a_second_reaper_leaves_the_sends_the_first_is_resending_and_does_not_wait(
    notices,  # noqa: F811
    no_broker,
    monkeypatch,
    settings,
):
    rows = notices(2)
    delivery.notifications_claim()
    for row in rows:
        killed_mid_send(row, monkeypatch)
    no_broker.clear()
    later = timezone.now() + datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 60)
    first = FirstSweep(lambda: delivery.notifications_reap(now=later))
    reaped_first, reaped_second, without_waiting = while_held(first, lambda: delivery.notifications_reap(now=later))
    assert without_waiting, "the second reaper waited for the first one's transaction"
    assert reaped_first == {"released": 0, "resent": 2}
    assert reaped_second == {"released": 0, "resent": 0}
    # Each stuck send is re-sent once, by one task.
    assert sorted(no_broker) == sorted(n.pk for n in rows)
    assert list(Notification.objects.order_by("id").values_list("status", "resends")) == [(Status.CLAIMED, 1)] * 2
