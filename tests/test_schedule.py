"""The periodic sweep is installed by a migration and points at a registered Celery task."""

import pytest
from django_celery_beat.models import PeriodicTask

from config.celery import app

pytestmark = pytest.mark.django_db


def test_default_sweep_schedule_is_installed_and_runs_a_real_task():
    task = PeriodicTask.objects.get(task="notifications.sweep")
    assert task.enabled and task.interval.every == 60 and task.interval.period == "seconds"
    app.loader.import_default_modules()
    assert "notifications.sweep" in app.tasks and "notifications.send" in app.tasks
