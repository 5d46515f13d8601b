"""Delivery of the outbox: claim, send, retry, reap. Every e-mail of the system goes through here.

The guarantee, stated honestly: a notification is never lost, and it is sent
twice only in the one window no system can close (the SMTP server accepted
the message and the process died before recording it); the second copy then
carries the same Message-ID, so mail systems and people can recognise it.

- ``notifications_claim`` (the sweep) takes due pending rows with
  ``SELECT ... FOR UPDATE SKIP LOCKED``, marks them claimed and enqueues one
  send task per row after commit, with the row id only.
- ``notification_send`` (the task) moves its row from claimed to sending with a
  conditional update; a redelivered or duplicate task changes nothing and exits.
  A failed send returns the row to pending with a growing back-off.
- ``notifications_reap`` returns rows stuck in claimed (a lost broker message,
  a flushed Redis) to pending, and re-sends rows stuck in sending (a killed
  worker) under the same Message-ID, counting each such re-send.
"""

from __future__ import annotations

import datetime
import logging
import smtplib
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter

from notifications import kinds
from notifications.models import Notification, NotificationStatus

logger = logging.getLogger(__name__)

Status = NotificationStatus

#: Outcomes of send attempts in this process (the Celery worker's): sent, failed, cancelled.
SENDS = Counter("rehab_notification_sends", "E-mail send attempts, by outcome.", ["outcome"])
for _outcome in ("sent", "failed", "cancelled"):
    SENDS.labels(_outcome)


def notification_create(*, kind: str, subject_type: str, subject_id: int, recipient, due_on: datetime.date) -> None:
    """Add a notification to the outbox unless the same one is there already."""
    kinds.validate_kind(kind, subject_type)
    Notification.objects.bulk_create(
        [
            Notification(
                kind=kind,
                subject_type=subject_type,
                subject_id=subject_id,
                recipient=recipient,
                due_on=due_on,
                # Read the clock here, as the claim does, rather than through the field's default.
                next_attempt_at=timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )


def notifications_add(keys: set[tuple]) -> int:
    """Add to the outbox, in bulk, the notifications named by (kind, subject type, subject id,
    recipient id, due day) that are not there yet and whose recipient is active with an
    address (a sweep's producers: reminders). Returns how many rows were added."""
    from django.contrib.auth import get_user_model

    reachable = set(
        get_user_model()
        .objects.filter(pk__in={key[3] for key in keys}, is_active=True)
        .exclude(email="")
        .values_list("id", flat=True)
    )
    rows = [
        Notification(kind=kind, subject_type=subject_type, subject_id=subject_id, recipient_id=recipient, due_on=due_on)
        for kind, subject_type, subject_id, recipient, due_on in sorted(keys, key=str)
        if recipient in reachable
    ]
    Notification.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def _enqueue_after_commit(ids: list[int]) -> None:
    if not ids:
        return
    from notifications.tasks import send_notification

    def enqueue():
        # One producer (one broker connection) for the whole batch.
        with send_notification.app.producer_or_acquire() as producer:
            for notification_id in ids:
                send_notification.apply_async((notification_id,), producer=producer)

    transaction.on_commit(enqueue)


def notifications_claim(*, limit: int | None = None, now: datetime.datetime | None = None) -> list[int]:
    """Claim due pending notifications and enqueue their sends after commit. Safe to run concurrently."""
    now = now or timezone.now()
    limit = limit or settings.NOTIFICATION_BATCH_SIZE
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Notification.objects.filter(id__in=ids, status=Status.PENDING).update(status=Status.CLAIMED, claimed_at=now)
            _enqueue_after_commit(ids)
    return ids


def _backoff(attempts: int) -> datetime.timedelta:
    seconds = settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return datetime.timedelta(seconds=min(seconds, settings.NOTIFICATION_RETRY_MAX_SECONDS))


def notification_send(*, notification_id: int) -> str:
    """Send one claimed notification. Returns what happened: sent, skipped, cancelled or failed."""
    from notifications.emails import render

    now = timezone.now()
    won = Notification.objects.filter(id=notification_id, status=Status.CLAIMED).update(
        status=Status.SENDING, sending_at=now, attempts=F("attempts") + 1
    )
    if not won:
        return "skipped"  # redelivered, duplicate, or already reaped and re-claimed
    notification = Notification.objects.select_related("recipient").get(id=notification_id)
    message = render(notification)
    if message is None:
        Notification.objects.filter(id=notification_id, status=Status.SENDING).update(status=Status.CANCELLED)
        SENDS.labels("cancelled").inc()
        return "cancelled"
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        # Not sent (or not known to be): back to pending, tried again by a later sweep.
        Notification.objects.filter(id=notification_id, status=Status.SENDING).update(
            status=Status.PENDING,
            next_attempt_at=timezone.now() + _backoff(notification.attempts),
            last_error=f"{type(exc).__name__}: {exc}"[:500],
        )
        logger.warning(
            "notification %s not sent (attempt %s): %s", notification_id, notification.attempts, type(exc).__name__
        )
        SENDS.labels("failed").inc()
        return "failed"
    Notification.objects.filter(id=notification_id, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    SENDS.labels("sent").inc()
    return "sent"


def notification_send_now(*, notification_id: int) -> str:
    """Claim one pending notification and send it in this process (commands for operators)."""
    with transaction.atomic():
        won = Notification.objects.filter(id=notification_id, status=Status.PENDING).update(
            status=Status.CLAIMED, claimed_at=timezone.now()
        )
    return notification_send(notification_id=notification_id) if won else "skipped"


def notifications_reap(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Recover rows whose task was lost (claimed too long) or whose worker died (sending too long)."""
    now = now or timezone.now()
    claim_cutoff = now - datetime.timedelta(seconds=settings.NOTIFICATION_CLAIM_TIMEOUT_SECONDS)
    sending_cutoff = now - datetime.timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT_SECONDS)
    with transaction.atomic():
        released = Notification.objects.filter(status=Status.CLAIMED, claimed_at__lt=claim_cutoff).update(
            status=Status.PENDING, next_attempt_at=now
        )
        stuck = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SENDING, sending_at__lt=sending_cutoff)
            .values_list("id", flat=True)
        )
        if stuck:
            # The SMTP server may have accepted these: re-send under the same Message-ID.
            Notification.objects.filter(id__in=stuck, status=Status.SENDING).update(
                status=Status.CLAIMED, claimed_at=now, resends=F("resends") + 1
            )
            _enqueue_after_commit(stuck)
    if released or stuck:
        logger.warning("reaper: %s claimed rows released, %s sending rows re-sent", released, len(stuck))
    return {"released": released, "resent": len(stuck)}


#: What each sweep asks first for the notifications that have fallen due (the
#: programmes' reminders): registered by the producing apps at start-up.
_DUE_PRODUCERS: list = []


def register_due_producer(produce) -> None:
    """``produce(now=...)`` puts what is due in the outbox and returns how many rows it added."""
    if produce not in _DUE_PRODUCERS:
        _DUE_PRODUCERS.append(produce)


@dataclass
class SweepResult:
    reaped: dict[str, int]
    due: int
    claimed: list[int]


def sweep(*, now: datetime.datetime | None = None) -> SweepResult:
    """One pass of the periodic sweep: reap, materialise due reminders, claim and enqueue."""
    reaped = notifications_reap(now=now)
    due = sum(produce(now=now) for produce in _DUE_PRODUCERS)
    # Claim in batches until nothing is due or the time budget is spent, so a
    # backlog drains at the broker's pace rather than one batch per beat.
    claimed: list[int] = []
    deadline = time.monotonic() + settings.NOTIFICATION_SWEEP_SECONDS
    while time.monotonic() < deadline:
        batch = notifications_claim(now=now)
        claimed += batch
        if len(batch) < settings.NOTIFICATION_BATCH_SIZE:
            break
    return SweepResult(reaped=reaped, due=due, claimed=claimed)
