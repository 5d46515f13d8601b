"""Observability without personal data: JSON log lines with a request id (also on the
tasks a request enqueues), readiness of the outbox and the beat, and /metrics."""

import datetime
import io
import json
import logging
import time

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import path
from django.utils import timezone

from config.celery import _publish_request_id, app
from notifications import delivery
from notifications.models import Notification, NotificationStatus
from notifications.tasks import BEAT_HEARTBEAT_KEY
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

SECRET = "Secret"
task_logger = logging.getLogger("tests.observability.task")
view_logger = logging.getLogger("tests.observability.view")


@app.task(name="tests.observability.echo")
def echo_task():
    task_logger.info("echo task ran")
    return "done"


def logging_view(request):
    view_logger.info("view ran")
    echo_task.delay()
    return HttpResponse("ok")


def failing_view(request):
    raise ValueError("boom")


def unavailable_view(request):
    return HttpResponse("not now", status=503)


urlpatterns = [
    path("logs", logging_view, name="logs"),
    path("fails", failing_view, name="fails"),
    path("unavailable", unavailable_view, name="unavailable"),
]


@pytest.fixture
def log_lines():
    """What the configured console handler writes, as a list of lines."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield lambda: [line for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        handler.setStream(previous)


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


# --- request ids and JSON lines -----------------------------------------------------------


def test_request_log_lines_are_json_with_the_answers_request_id(client, settings, log_lines, eager):
    settings.ROOT_URLCONF = __name__
    response = client.get("/logs")
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    lines = [json.loads(line) for line in log_lines()]
    ours = [line for line in lines if line["logger"].startswith("tests.observability")]
    assert {line["message"] for line in ours} == {"view ran", "echo task ran"}
    assert all(line["request_id"] == request_id for line in lines), lines
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_the_error_line_django_writes_after_the_answer_carries_its_request_id(client, settings, log_lines):
    """Django logs an error answer a view returned once the middleware has returned: the
    line still names the request (as for /readyz answering 503)."""
    settings.ROOT_URLCONF = __name__
    response = client.get("/unavailable?name=Secret")
    assert response.status_code == 503
    lines = [json.loads(line) for line in log_lines()]
    errors = [line for line in lines if line["logger"] == "django.request"]
    assert errors and all(line["request_id"] == response["X-Request-ID"] for line in errors), lines
    assert "Secret" not in "\n".join(log_lines())


def test_a_valid_incoming_request_id_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-DEF-12345678")
    assert response["X-Request-ID"] == "abc-DEF-12345678"


@pytest.mark.parametrize(
    "forged",
    ["short", "x" * 65, "abc def 12345", "abcdefgh\nrequest_id=1", "abcdefgh;rm", "ééééééééé", "<script>1234</script>"],
)
def test_a_forged_or_overlong_request_id_is_replaced(client, forged):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=forged)
    assert response.status_code == 200
    assert response["X-Request-ID"] != forged
    assert len(response["X-Request-ID"]) == 32 and response["X-Request-ID"].isalnum()


def test_each_request_gets_its_own_id(client):
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_a_task_logs_with_the_request_id_of_the_request_that_enqueued_it(client, settings, log_lines):
    # The web side: what goes into the message's headers while a request runs.
    from core.request_log import bound_request_id

    headers = {}
    with bound_request_id("req-0123456789"):
        _publish_request_id(headers=headers)
    assert headers == {"request_id": "req-0123456789"}
    # The worker side: the task runs with those headers, outside any request.
    echo_task.apply(headers=headers)
    lines = [json.loads(line) for line in log_lines()]
    task_lines = [line for line in lines if line["message"] == "echo task ran"]
    assert task_lines and all(line["request_id"] == "req-0123456789" for line in task_lines)
    # After the task, the worker forgets the id.
    from core.request_log import current_request_id

    assert current_request_id() is None


def test_a_task_with_a_forged_request_id_header_gets_its_own(log_lines):
    echo_task.apply(headers={"request_id": "bad id\n"})
    (line,) = [json.loads(line) for line in log_lines() if "echo task ran" in line]
    assert line["request_id"] != "bad id\n" and len(line["request_id"]) == 32


def test_no_log_line_of_a_request_carries_its_query_string(client, settings, log_lines, caseworker, eager):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    client.raise_request_exception = False
    force_login(client, caseworker)
    assert client.get(f"/logs?name={SECRET}").status_code == 200
    assert client.get(f"/nowhere?name={SECRET}").status_code == 404
    assert client.get(f"/fails?name={SECRET}").status_code == 500
    lines = log_lines()
    # The 404 and the 500 are logged (by Django, which attaches the whole request to the record).
    assert any("Not Found" in line for line in lines) and any("Internal Server Error" in line for line in lines)
    assert not [line for line in lines if SECRET in line]


def test_plain_format_also_carries_the_request_id():
    from django.conf import settings as django_settings

    formatter = logging.Formatter(django_settings.LOGGING["formatters"]["plain"]["format"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    from core.request_log import RequestIdFilter, bound_request_id

    with bound_request_id("plain-1234567"):
        RequestIdFilter().filter(record)
    assert "[plain-1234567] hello" in formatter.format(record)


# --- readiness -----------------------------------------------------------------------------


def _pending(recipient, *, waiting: datetime.timedelta, status=NotificationStatus.PENDING, subject_id=1):
    return Notification.objects.create(
        kind="reminder",
        subject_type="followup",
        subject_id=subject_id,
        recipient=recipient,
        due_on=timezone.localdate(),
        status=status,
        next_attempt_at=timezone.now() - waiting,
        sent_at=timezone.now() if status == NotificationStatus.SENT else None,
    )


def test_readyz_fails_when_a_due_email_has_waited_too_long(client, settings, caseworker):
    settings.READYZ_OUTBOX_MAX_AGE_SECONDS = 1800
    _pending(caseworker, waiting=datetime.timedelta(minutes=5))
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["outbox"] == "ok"

    _pending(caseworker, waiting=datetime.timedelta(hours=1), subject_id=2)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["outbox"] == "stale"
    assert 3590 <= body["details"]["outbox_oldest_due_age_seconds"] <= 3700
    # Nothing of the row itself is in the answer.
    assert caseworker.username not in response.content.decode()
    assert caseworker.email not in response.content.decode()


def test_readyz_ignores_old_rows_that_are_not_pending_or_not_yet_due(client, caseworker):
    _pending(caseworker, waiting=datetime.timedelta(days=3), status=NotificationStatus.SENT)
    _pending(caseworker, waiting=-datetime.timedelta(hours=2), subject_id=2)  # a retry later on
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()


def test_readyz_without_a_heartbeat_is_ready_unless_beat_is_required(client, settings):
    cache.delete(BEAT_HEARTBEAT_KEY)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["beat"] == "never"
    settings.READYZ_REQUIRE_BEAT = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "missing"


def test_readyz_with_an_old_heartbeat_fails_and_the_sweep_refreshes_it(client, settings):
    settings.READYZ_REQUIRE_BEAT = True
    settings.READYZ_BEAT_MAX_AGE_SECONDS = 300
    cache.set(BEAT_HEARTBEAT_KEY, time.time() - 600, timeout=None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "stale"
    assert response.json()["details"]["beat_last_sweep_age_seconds"] >= 600

    from notifications.tasks import sweep

    sweep.apply()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["beat"] == "ok"
    cache.delete(BEAT_HEARTBEAT_KEY)


# --- metrics -------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


def test_metrics_are_hidden_from_caseworkers_and_remote_anonymous_clients(client, caseworker):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    force_login(client, caseworker)
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


def test_metrics_do_not_believe_a_forwarded_for_header_from_a_client(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404


def test_metrics_are_served_to_allowed_addresses(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    settings.METRICS_ALLOWED_IPS = ["10.0.0.7", "not an address"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_metrics_for_an_administrator(client, administrator, caseworker):
    waiting = datetime.timedelta(minutes=10)
    _pending(caseworker, waiting=waiting, subject_id=1)
    _pending(caseworker, waiting=datetime.timedelta(minutes=1), subject_id=2)
    _pending(caseworker, waiting=datetime.timedelta(days=1), subject_id=3, status=NotificationStatus.SENT)
    _pending(caseworker, waiting=-datetime.timedelta(hours=1), subject_id=4)  # not due yet
    client.get("/healthz")
    force_login(client, administrator)
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    text = response.content.decode()
    assert response["Cache-Control"] == "no-store"
    # The latency histogram, by URL pattern name and status class.
    assert _sample(text, "rehab_http_request_duration_seconds_count", method="GET", route="healthz", status="2xx") >= 1
    assert 'rehab_http_request_duration_seconds_bucket{le="0.005",method="GET",route="healthz",status="2xx"}' in text
    # The outbox, as the database has it.
    assert _sample(text, "rehab_outbox_notifications", status="pending") == 3
    assert _sample(text, "rehab_outbox_notifications", status="sent") == 1
    assert _sample(text, "rehab_outbox_notifications", status="claimed") == 0
    age = _sample(text, "rehab_outbox_oldest_due_pending_age_seconds")
    assert waiting.total_seconds() - 5 <= age <= waiting.total_seconds() + 60
    # The send counters exist for every outcome.
    for outcome in ("sent", "failed", "cancelled"):
        assert _sample(text, "rehab_notification_sends_total", outcome=outcome) is not None


def test_metric_labels_carry_no_ids_or_query_strings(client, administrator, case):
    force_login(client, administrator)
    client.get(f"/admin/casework/case/{case.pk}/change/?q={SECRET}")
    client.get(f"/no/such/page/{case.pk}/?q={SECRET}")
    text = client.get("/metrics").content.decode()
    assert 'route="admin:casework_case_change"' in text
    assert 'route="unmatched"' in text
    assert SECRET not in text
    assert f"/{case.pk}/" not in text


def test_unknown_methods_share_one_label(client, administrator):
    client.generic("BREW", "/healthz")
    force_login(client, administrator)
    assert 'method="other"' in client.get("/metrics").content.decode()


def test_send_outcomes_are_counted(caseworker, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    before = delivery.SENDS.labels("cancelled")._value.get()
    row = _pending(caseworker, waiting=datetime.timedelta(minutes=1), status=NotificationStatus.CLAIMED)
    # An unknown kind renders nothing: the row is cancelled.
    assert delivery.notification_send(notification_id=row.pk) == "cancelled"
    assert delivery.SENDS.labels("cancelled")._value.get() == before + 1


def test_the_development_servers_request_lines_lose_their_query_string():
    from config.log_format import NoQueryStringFilter

    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        (f"GET /admin/?q={SECRET} HTTP/1.1", "200", "12"),
        None,
    )
    assert NoQueryStringFilter().filter(record)
    assert record.getMessage() == '"GET /admin/ HTTP/1.1" 200 12'
