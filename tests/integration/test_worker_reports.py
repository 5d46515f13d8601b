"""The weekly stage report through a real Celery worker on Redis to a real SMTP server."""

import threading

import pytest

from programmes.models import StageReport
from programmes.tasks import send_stage_report
from tests import factories as f
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration]


def test_weekly_report_arrives_once_per_supervisor_even_if_the_schedule_fires_twice(
    real_services, programme, caseworker, supervisor, smtp_server, worker_factory
):
    second = f.add_member(programme, f.UserFactory(username="supervisor-two"), "supervisor")
    case = f.CaseFactory(caseworker=caseworker, reference="REP-001")
    f.enrol(case, programme, by=caseworker)
    worker_factory()
    send_stage_report.delay(programme.pk)
    send_stage_report.delay(programme.pk)
    assert wait_for(lambda: len(smtp_server.handler.messages) >= 2, timeout=60)
    threading.Event().wait(3)  # room for a duplicate to show itself
    messages = smtp_server.handler.messages
    assert sorted(m["To"] for m in messages) == sorted([supervisor.email, second.email])
    assert StageReport.objects.count() == 1
    for message in messages:
        types = [part.get_content_type() for part in message.walk()]
        assert "text/html" in types and "image/png" in types and "text/csv" in types
        png = next(part for part in message.walk() if part.get_content_type() == "image/png")
        assert png["Content-ID"] == "<stage-funnel>" and png.get_payload(decode=True).startswith(b"\x89PNG")
        csv_part = next(part for part in message.walk() if part.get_content_type() == "text/csv")
        assert "REP-001" not in message["Subject"]
        assert csv_part.get_payload(decode=True).decode("utf-8").lstrip("\ufeff").startswith("period,period_start")
