"""A sentinel name must never leave the system: not in e-mails (reminders, escalations,
closure requests, stage reports with their CSV), not in task payloads, not in logs, not
in API error bodies. Every door that sends or logs is driven once with a person whose
every name is the sentinel."""

from __future__ import annotations

import datetime
import logging
from zoneinfo import ZoneInfo

import pytest
from celery.app.task import Task
from django.core import mail
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from lifecycle import closure
from casework.models import PersonIdentifier, PersonName
from config.celery import app
from notifications import delivery
from programmes import reports, workflow
from programmes.models import FollowUp, StageRecord
from tests import factories as f

pytestmark = pytest.mark.django_db

SENTINEL_GIVEN = "Zzsentinelgiven"
SENTINEL_FAMILY = "Zzsentinelova"
SENTINEL_ALIAS = "Umm Zzsentinel"
SENTINEL_ID = "ZZ-SENTINEL-9999"
SENTINELS = (SENTINEL_GIVEN, SENTINEL_FAMILY, SENTINEL_ALIAS, SENTINEL_ID, "Zzsentinel")
ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
def sentinel_case(programme, caseworker, supervisor):
    person = f.PersonFactory(given_name=SENTINEL_GIVEN, family_name=SENTINEL_FAMILY, place_of_birth="Zzsentinel town")
    PersonName.objects.create(
        person=person, full_name=f"{SENTINEL_GIVEN} {SENTINEL_FAMILY}", script="latin", kind="primary"
    )
    PersonName.objects.create(person=person, full_name=SENTINEL_ALIAS, script="latin", kind="alias")
    PersonIdentifier.objects.create(person=person, kind="passport", value=SENTINEL_ID, issuing_country="KZ")
    case = f.CaseFactory(person=person, caseworker=caseworker, reference="N-SENT")
    f.enrol(case, programme, by=caseworker)
    return case


@pytest.fixture
def payloads(monkeypatch):
    """Every task message's arguments, as the broker would store them."""
    sent = []
    original = Task.apply_async

    def spy(self, args=None, kwargs=None, *rest, **options):
        sent.append(repr((self.name, args, kwargs)))
        return original(self, args, kwargs, *rest, **options)

    monkeypatch.setattr(Task, "apply_async", spy)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield sent
    app.conf.task_always_eager = previous


def leaked(text: str) -> list[str]:
    return [s for s in SENTINELS if s.lower() in text.lower()]


def test_the_sentinel_never_leaves_the_system(
    sentinel_case, caseworker, supervisor, payloads, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    stage = StageRecord.objects.get(enrolment__case=sentinel_case, stage_type__code="psychological")
    workflow.stage_start(stage_id=stage.pk, by=caseworker)
    follow_up = FollowUp.objects.get(stage=stage)
    overdue_day = follow_up.due_date + datetime.timedelta(days=8)
    now = datetime.datetime(overdue_day.year, overdue_day.month, overdue_day.day, 9, tzinfo=ALMATY)

    with django_capture_on_commit_callbacks(execute=True):
        closure.case_closure_request(case_id=sentinel_case.pk, by=caseworker, reason="Moving abroad (test)")
    with django_capture_on_commit_callbacks(execute=True):
        delivery.sweep(now=now)
    period = reports.period_containing(overdue_day, "weekly")
    with django_capture_on_commit_callbacks(execute=True):
        reports.report_send(programme=sentinel_case.enrolments.get().programme, period=period, now=now)
        delivery.notifications_claim(now=now + datetime.timedelta(days=1))

    kinds = {message.subject for message in mail.outbox}
    assert len(mail.outbox) >= 4, kinds  # upcoming/overdue, escalation, closure request, stage report
    for message in mail.outbox:
        parts = [message.subject, message.body, *(alt[0] for alt in message.alternatives)]
        parts += [
            a[1].decode() if isinstance(a[1], bytes) and a[2] != "image/png" else str(a[1])
            for a in message.attachments
            if isinstance(a, tuple)
        ]
        for part in parts:
            assert not leaked(part), (message.subject, leaked(part))
    assert any(sentinel_case.reference in message.body for message in mail.outbox)

    assert payloads, "the sends went through the task queue"
    for payload in payloads:
        assert not leaked(payload), payload

    # API errors: a bad write that carries the name is refused without echoing it.
    token = AuthToken.objects.create(caseworker)[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    url = reverse("person-detail", kwargs={"pk": sentinel_case.person_id})
    bad = client.patch(url, {"sex": SENTINEL_GIVEN, "date_of_birth": SENTINEL_FAMILY}, format="json", HTTP_IF_MATCH="*")
    assert bad.status_code == 400
    assert not leaked(bad.content.decode())
    malformed = client.generic(
        "PATCH", url, f'{{"given_name": "{SENTINEL_GIVEN}"', content_type="application/json", HTTP_IF_MATCH="*"
    )
    assert malformed.status_code == 400
    assert not leaked(malformed.content.decode())

    for record in caplog.records:
        assert not leaked(record.getMessage()), record.getMessage()
