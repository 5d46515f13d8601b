"""Thin Celery wrappers for casework. Arguments are ids only."""

from celery import shared_task

from lifecycle import retention

RETENTION_TASK = "casework.apply_retention"


@shared_task(name=RETENTION_TASK, acks_late=True)
def apply_retention() -> str:
    """Anonymise what has passed its retention period; running it twice does nothing more."""
    plan = retention.retention_apply()
    return f"{len(plan.case_ids)} cases, {len(plan.person_ids)} people anonymised"
