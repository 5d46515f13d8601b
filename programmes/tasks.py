"""Thin Celery wrappers for programmes. Arguments are ids only."""

from celery import shared_task

from notifications.delivery import notifications_claim
from programmes import reports
from programmes.models import Programme


@shared_task(name=reports.REPORT_TASK, acks_late=True)
def send_stage_report(programme_id: int) -> str:
    """Store last period's report and queue it for every subscribed supervisor; safe to fire twice."""
    programme = Programme.objects.get(pk=programme_id)
    period = reports.period_last_complete(programme, programme.report_frequency)
    report = reports.report_send(programme=programme, period=period)
    notifications_claim()
    return f"{programme.code} {report.period}"
