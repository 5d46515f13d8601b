"""Thin Celery wrappers around the delivery module. Arguments are ids only: the broker stores them in plain text."""

import logging
import time

from celery import shared_task
from django.core.cache import cache

from notifications import delivery

#: When the last periodic sweep ran (a Unix time in the shared cache): /readyz reads it.
BEAT_HEARTBEAT_KEY = "beat:last_sweep"

logger = logging.getLogger(__name__)


@shared_task(name="notifications.send", acks_late=True, reject_on_worker_lost=True)
def send_notification(notification_id: int) -> str:
    return delivery.notification_send(notification_id=notification_id)


@shared_task(name="notifications.sweep", acks_late=True)
def sweep() -> dict:
    # The heartbeat first: a sweep that fails still shows that beat schedules it.
    try:
        cache.set(BEAT_HEARTBEAT_KEY, time.time(), timeout=None)
    except Exception:  # noqa: BLE001 - an unreachable cache must not stop the sweep; /readyz will tell
        logger.warning("sweep: the heartbeat could not be recorded")
    result = delivery.sweep()
    return {"reaped": result.reaped, "due": result.due, "claimed": len(result.claimed)}
