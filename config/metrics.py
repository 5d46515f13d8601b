"""Metrics for Prometheus at ``/metrics``: request latency, the outbox's backlog, e-mail sends.

Who may read them: signed-in administrators, and clients whose address (as the
project resolves it behind its trusted proxies, ``accounts.lockout.client_address``)
is in ``METRICS_ALLOWED_IPS``. Anybody else gets the site's ordinary 404.

Where the numbers come from:

- ``rehab_http_request_duration_seconds`` (histogram; method, route, status class) is
  observed by ``RequestMetricsMiddleware`` in each web process. The route is the
  URL pattern's name (``admin:casework_case_change``), never the path with its ids.
  With several gunicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker
  write its samples to files there, and each scrape adds them up
  (config/gunicorn.conf.py prepares the folder).
- ``rehab_outbox_notifications`` (gauge by status) and
  ``rehab_outbox_oldest_due_pending_age_seconds`` are counted in the database at
  scrape time, so every process answers the same, whichever worker is asked.
- ``rehab_notification_sends_total`` (counter by outcome) is counted where e-mails
  are sent (``notifications.delivery``), that is in the Celery worker; see
  README (Observability) for where to read it.
"""

from __future__ import annotations

import ipaddress
import os
import time

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from accounts.lockout import client_address
from core.roles import is_administrator
from notifications.models import Notification, NotificationStatus

REQUEST_LATENCY = Histogram(
    "rehab_http_request_duration_seconds",
    "Time to answer a request, by method, URL pattern name and status class.",
    ["method", "route", "status"],
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match._func_path or "unnamed"


class RequestMetricsMiddleware:
    """Observes how long each request took; labels carry no path, id or query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        status = f"{response.status_code // 100}xx"
        REQUEST_LATENCY.labels(method, _route(request), status).observe(time.perf_counter() - started)
        return response


def oldest_due_pending_age_seconds(now=None) -> float | None:
    """Seconds the longest-waiting due e-mail has waited since it fell due; None when none waits."""
    now = now or timezone.now()
    oldest = (
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if oldest is None else max((now - oldest).total_seconds(), 0.0)


class OutboxCollector:
    """The outbox as the database has it at the moment of the scrape."""

    def describe(self):
        return []

    def collect(self):
        by_status = GaugeMetricFamily(
            "rehab_outbox_notifications", "E-mails in the outbox, by status.", labels=["status"]
        )
        counts = dict(Notification.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in NotificationStatus.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        age = oldest_due_pending_age_seconds()
        yield GaugeMetricFamily(
            "rehab_outbox_oldest_due_pending_age_seconds",
            "Seconds the oldest due pending e-mail has waited since it fell due (0 when none waits).",
            value=age or 0.0,
        )


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(OutboxCollector())
    return registry


class _ProcessMetrics:
    """This process's own metrics (the default registry), when there is one process."""

    def describe(self):
        return []

    def collect(self):
        return REGISTRY.collect()


def _allowed_addresses() -> frozenset[str]:
    allowed = set()
    for value in settings.METRICS_ALLOWED_IPS:
        try:
            allowed.add(str(ipaddress.ip_address(value.strip())))
        except ValueError:
            continue
    return frozenset(allowed)


def _allowed(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and is_administrator(user):
        return True
    address = client_address(request)
    return address is not None and address in _allowed_addresses()


def metrics(request):
    if not _allowed(request):
        raise Http404
    response = HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
