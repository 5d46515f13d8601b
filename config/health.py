"""Liveness and readiness probes for load balancers and orchestrators.

``/readyz`` answers 503 when any check fails, and lists every check in its body;
the body holds statuses and ages in seconds, never a row's content:

- ``database``, ``broker``: reachable;
- ``outbox``: no due pending e-mail has waited longer than
  ``READYZ_OUTBOX_MAX_AGE_SECONDS`` since it fell due (sends are stuck otherwise);
- ``beat``: the periodic sweep (run every minute by Celery beat) has left its
  heartbeat within ``READYZ_BEAT_MAX_AGE_SECONDS``. Before the first sweep there
  is none: that reads "never", and fails only with ``READYZ_REQUIRE_BEAT`` on.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from config.metrics import oldest_due_pending_age_seconds
from notifications.tasks import BEAT_HEARTBEAT_KEY


def healthz(request):
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return "unavailable"


def _broker() -> str:
    try:
        from config.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:  # noqa: BLE001
        return "unavailable"


def _outbox(details: dict) -> str:
    try:
        age = oldest_due_pending_age_seconds()
    except Exception:  # noqa: BLE001
        return "unavailable"
    details["outbox_oldest_due_age_seconds"] = None if age is None else int(age)
    return "ok" if age is None or age <= settings.READYZ_OUTBOX_MAX_AGE_SECONDS else "stale"


def _beat(details: dict) -> str:
    try:
        last = cache.get(BEAT_HEARTBEAT_KEY)
    except Exception:  # noqa: BLE001
        return "unavailable"
    if not isinstance(last, int | float):
        details["beat_last_sweep_age_seconds"] = None
        return "never" if not settings.READYZ_REQUIRE_BEAT else "missing"
    age = max(timezone.now().timestamp() - last, 0)
    details["beat_last_sweep_age_seconds"] = int(age)
    return "ok" if age <= settings.READYZ_BEAT_MAX_AGE_SECONDS else "stale"


#: Statuses that do not make the process unready.
_READY = frozenset({"ok", "never"})


def readyz(request):
    """The database, the broker, the outbox and the beat are healthy; 503 when any is not."""
    details: dict = {}
    checks = {"database": _database(), "broker": _broker()}
    checks["outbox"] = _outbox(details) if checks["database"] == "ok" else "unavailable"
    checks["beat"] = _beat(details)
    ready = all(value in _READY for value in checks.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks, "details": details},
        status=200 if ready else 503,
    )
    response["Cache-Control"] = "no-store"
    return response
