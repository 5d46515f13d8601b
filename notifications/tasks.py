"""Thin Celery wrappers around the delivery module. Arguments are ids only: the broker stores them in plain text."""

from celery import shared_task

from notifications import delivery


@shared_task(name="notifications.send", acks_late=True, reject_on_worker_lost=True)
def send_notification(notification_id: int) -> str:
    return delivery.notification_send(notification_id=notification_id)


@shared_task(name="notifications.sweep", acks_late=True)
def sweep() -> dict:
    result = delivery.sweep()
    return {"reaped": result.reaped, "due": result.due, "claimed": len(result.claimed)}
