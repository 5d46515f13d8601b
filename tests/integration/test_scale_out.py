"""Scale-out: two web processes and two Celery workers on one PostgreSQL database and one Redis.

What the product promises (notifications/delivery.py, README "Delivery"): a notification is
never lost, and it is sent twice only in the one window no system can close (the SMTP
server accepted the message and the worker died before recording it); a second copy then
carries the same Message-ID and the row counts it in ``resends``. So, with 2,000 due
reminders, two workers draining them and one worker killed with SIGKILL mid-run, this test
asserts exactly that:

- every notification reaches the SMTP server under its own Message-ID: 2,000 distinct
  Message-IDs arrive, each one a notification's, none missing, none foreign;
- counted by Message-ID, each arrives exactly once; a second copy arrives only for a row the
  reaper re-sent (``resends`` >= 1), under the identical Message-ID, and never more copies
  than re-sends;
- every row ends up sent.

The two web processes (gunicorn with config/gunicorn.conf.py) share their state: a session
signed in on one is valid on the other (sessions are database rows), and the anonymous API
throttle counts requests to both against one budget (the Redis cache).
"""

from __future__ import annotations

import contextlib
import datetime
import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications import delivery
from notifications.models import Notification, NotificationStatus
from programmes import workflow
from programmes.models import FollowUp, StageRecord
from programmes.reminders import reminders_materialize
from tests import factories as f
from tests.integration.conftest import ROOT, _free_port, wait_for

pytestmark = [pytest.mark.integration]

REMINDERS = 2000
ANONYMOUS_LIMIT = 30  # the default anonymous API rate, 30/minute
PASSWORD = "test-password-123"  # tests.factories.UserFactory's


@pytest.fixture
def due_reminders(real_services, programme, caseworker):
    """2,000 open follow-ups of one stage that fell due yesterday: one overdue reminder each."""
    yesterday = programme.local_today() - datetime.timedelta(days=1)
    case = f.CaseFactory(caseworker=caseworker, reference="SCALE-001")
    f.enrol(case, programme, by=caseworker)
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
    workflow.stage_start(stage_id=stage.pk, by=caseworker)
    FollowUp.objects.filter(stage=stage).update(due_date=yesterday)
    missing = REMINDERS - FollowUp.objects.filter(stage=stage).count()
    FollowUp.objects.bulk_create(
        FollowUp(stage=stage, kind=FollowUp.Kind.SESSION, due_date=yesterday, assignee=caseworker)
        for _ in range(missing)
    )
    # Only the follow-ups are due: stage deadlines are far ahead.
    StageRecord.objects.update(due_date=programme.local_today() + datetime.timedelta(days=300))
    assert reminders_materialize() == REMINDERS
    assert Notification.objects.count() == REMINDERS


def _process_environment(redis_url: str) -> dict:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return {
        **{
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CELERY_", "EMAIL_", "API_THROTTLE_", "GUNICORN_"))
        },
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }


def _status(url: str, opener=None, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Connection": "close", **(headers or {})})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def web_processes(count: int, environment: dict, tmp_path):
    """``count`` gunicorn processes, each with the production config (one worker each); yields base URLs."""
    processes, bases, logs = [], [], []
    try:
        for number in range(count):
            port = _free_port()
            log = tmp_path / f"web-{number}.log"
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "gunicorn",
                            "config.wsgi",
                            "--config",
                            "config/gunicorn.conf.py",
                            "--bind",
                            f"127.0.0.1:{port}",
                            "--workers",
                            "1",
                        ],
                        cwd=ROOT,
                        env=environment,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            bases.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        for process, base, log in zip(processes, bases, logs, strict=True):
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                with contextlib.suppress(OSError):
                    if _status(base + "/readyz")[0] == 200:
                        break
                assert time.monotonic() < deadline, "gunicorn did not start:\n" + log.read_text()
                time.sleep(0.3)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def statuses() -> Counter:
    return Counter(Notification.objects.values_list("status", flat=True))


def settled(previous: list) -> bool:
    """True once the outbox's statuses stayed the same for one polling interval."""
    current = statuses()
    same = bool(previous) and previous[-1] == current
    previous.append(current)
    return same


def test_two_webs_and_two_workers_deliver_every_reminder_once_though_a_worker_is_killed(
    due_reminders, smtp_server, worker_factory, real_services, caseworker, tmp_path
):
    import redis

    # --- two web processes share their state -------------------------------------------
    cache = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    for key in cache.scan_iter("*throttle_anonymous_*"):
        cache.delete(key)
    with web_processes(2, _process_environment(real_services), tmp_path) as (first, second):
        # Signed in on the first, the session is valid on the second.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        status, page = _status(first + "/admin/login/", opener)
        assert status == 200
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = {"csrfmiddlewaretoken": token, "username": caseworker.username, "password": PASSWORD, "next": "/admin/"}
        status, _ = _status(
            first + "/admin/login/",
            opener,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": first + "/admin/login/", "Origin": first},
        )
        assert status == 200
        status, page = _status(second + "/admin/", opener)
        assert status == 200 and b'id="user-tools"' in page, page[:300]
        # One anonymous budget for both: 20 requests to each, 30 let through in all.
        codes = [_status(base + "/api/v1/cases/")[0] for base in (first, second) for _ in range(20)]
        assert set(codes) <= {401, 429}, codes
        assert sum(code != 429 for code in codes) == ANONYMOUS_LIMIT
        assert codes[20:].count(429) >= 10  # the second process saw the first one's requests

    # --- two workers, one killed mid-run -------------------------------------------------
    survivor = worker_factory()
    victim = worker_factory()
    started = time.monotonic()
    claimed = delivery.sweep().claimed
    assert len(claimed) == REMINDERS
    assert wait_for(lambda: len(smtp_server.handler.messages) >= REMINDERS // 5, timeout=60, interval=0.05)
    victim.kill()  # SIGKILL, main process and pool children, as a crash would
    received_at_kill = len(smtp_server.handler.messages)
    assert received_at_kill < REMINDERS, "the run was over before the worker was killed"
    # The survivor drains the queue; what the victim held stays claimed or sending. Each time
    # nothing moves any more, time passes as the beat would let it (a sweep a minute): the
    # reaper returns the rows a dead worker held, re-sending those stuck in sending under
    # the same Message-ID, and the claim enqueues them again.
    later = timezone.now()
    rounds: list[dict] = []
    # The survivor alone drains what is left; on a slow machine that takes minutes, and the
    # outbox settles only once it is done, so the bound is generous: a lost row shows as a
    # row that never ends up sent, not as a slow drain.
    deadline = time.monotonic() + 600
    while True:
        history: list = []
        assert wait_for(lambda: settled(history), timeout=420, interval=2), statuses()
        if statuses() == {NotificationStatus.SENT: REMINDERS}:
            break
        assert time.monotonic() < deadline, (
            statuses(),
            rounds,
            list(Notification.objects.exclude(status=NotificationStatus.SENT).values("id", "status", "resends")),
            "".join(survivor.output[-20:]),
        )
        later += datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS + 100)
        rounds.append(delivery.notifications_reap(now=later))
        while len(delivery.notifications_claim(now=later)) == settings.NOTIFICATION_BATCH_SIZE:
            pass
    assert rounds and rounds[0]["released"] + rounds[0]["resent"] >= 1, rounds  # the victim held some
    # Give a late duplicate every chance to show up.
    time.sleep(2)
    elapsed = time.monotonic() - started

    received = Counter(smtp_server.handler.message_ids())
    expected = {n.message_id for n in Notification.objects.all()}
    assert len(expected) == REMINDERS
    assert set(received) == expected  # each notification arrived, nothing else did
    duplicates = {message_id: count for message_id, count in received.items() if count > 1}
    resent = dict(Notification.objects.filter(resends__gte=1).values_list("id", "resends"))
    resent_ids = {n.message_id for n in Notification.objects.filter(id__in=resent)}
    # A second copy only for a row re-sent after its worker died, under the same Message-ID.
    assert set(duplicates) <= resent_ids, (duplicates, resent)
    assert sum(received.values()) <= REMINDERS + sum(resent.values())
    print(
        f"{REMINDERS} reminders, {len(received)} distinct Message-IDs, {sum(received.values())} messages"
        f" ({len(duplicates)} re-sent copies), worker killed after {received_at_kill}, reaper rounds {rounds},"
        f" {elapsed:.0f} s"
    )
