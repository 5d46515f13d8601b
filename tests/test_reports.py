"""Supervisors' stage reports: every number checked against a caseload built by hand."""

import csv
import datetime
import io
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from config.celery import app
from notifications import delivery
from notifications.models import Notification, NotificationKind
from programmes import reports, workflow
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    ProgrammeMembership,
    SchoolPlacement,
    StageRecord,
    StageReport,
)
from tests import factories as f

pytestmark = pytest.mark.django_db

ALMATY = ZoneInfo("Asia/Almaty")
D = datetime.date
W47 = reports.period_parse("2026-W47")  # Monday 16 to Sunday 22 November 2026


@pytest.fixture
def clock(monkeypatch):
    """Sets the time the whole system sees."""

    class Clock:
        def set(self, *args):
            instant = datetime.datetime(*args, tzinfo=ALMATY)
            monkeypatch.setattr(timezone, "now", lambda: instant.astimezone(datetime.UTC))

    clock = Clock()
    clock.set(2026, 11, 25, 10, 0)
    return clock


def stage(case, code):
    return StageRecord.objects.get(enrolment__case=case, stage_type__code=code)


@pytest.fixture
def caseload(programme, caseworker, clock):
    """Four people; what each stage went through is written beside it."""
    def person(age, **kw):
        return f.PersonFactory(date_of_birth=f.born_years_ago(age, D(2026, 11, 1)), **kw)

    def enrolled(reference, age, arrival):
        case = f.CaseFactory(reference=reference, person=person(age), caseworker=caseworker, arrival_date=arrival)
        f.enrol(case, programme, by=caseworker, enrolled_on=arrival)
        return case

    by = caseworker
    a = enrolled("A", 30, D(2026, 11, 1))
    b = enrolled("B", 10, D(2026, 11, 1))
    c = enrolled("C", 4, D(2026, 11, 1))
    d = enrolled("D", 40, D(2026, 10, 1))

    # A: the centre month ended on 20 Nov (in the period), which started housing that day.
    workflow.stage_start(stage_id=stage(a, "accommodation").pk, by=by, on=D(2026, 11, 1))
    workflow.stage_complete(stage_id=stage(a, "accommodation").pk, by=by, outcome="Left (test).", on=D(2026, 11, 20))
    # A: psychological care since 1 Nov; its first follow-up (15 Nov) is overdue.
    workflow.stage_start(stage_id=stage(a, "psychological").pk, by=by, on=D(2026, 11, 1))
    # A: documents blocked before starting.
    workflow.stage_block(stage_id=stage(a, "documents").pk, by=by, reason="Registry closed (test).")

    # B: the centre month completed at the last second of Sunday 22 Nov, local time.
    workflow.stage_start(stage_id=stage(b, "accommodation").pk, by=by, on=D(2026, 11, 1))
    clock.set(2026, 11, 22, 23, 59, 59)
    workflow.stage_complete(stage_id=stage(b, "accommodation").pk, by=by, outcome="Left (test).")
    # B: school started on 17 Nov, completed by mistake on 18 Nov and reopened.
    clock.set(2026, 11, 24, 9, 0)
    workflow.stage_start(stage_id=stage(b, "school").pk, by=by, on=D(2026, 11, 17))
    SchoolPlacement.objects.create(stage=stage(b, "school"), institution="School (test)", level="school", grade=4, enrolled_on=D(2026, 11, 17))
    workflow.stage_complete(stage_id=stage(b, "school").pk, by=by, outcome="Mistake (test).", on=D(2026, 11, 18))
    workflow.stage_reopen(stage_id=stage(b, "school").pk, by=by, reason="Completed by mistake (test).")

    # C: the centre month completed at the first second of Monday 23 Nov: next period.
    workflow.stage_start(stage_id=stage(c, "accommodation").pk, by=by, on=D(2026, 11, 1))
    clock.set(2026, 11, 23, 0, 0, 0)
    workflow.stage_complete(stage_id=stage(c, "accommodation").pk, by=by, outcome="Left (test).")

    # D: still in the centre since 1 Oct (its stage overdue since 31 Oct); a passport issued.
    workflow.stage_start(stage_id=stage(d, "accommodation").pk, by=by, on=D(2026, 10, 1))
    AccommodationStay.objects.create(stage=stage(d, "accommodation"), centre="Centre (test)", arrived_on=D(2026, 10, 1))
    DocumentRequest.objects.create(stage=stage(d, "documents"), document_type="passport", status="issued", requested_on=D(2026, 10, 5), issued_on=D(2026, 11, 2), number="TEST-1")

    clock.set(2026, 11, 25, 10, 0)
    return {"a": a, "b": b, "c": c, "d": d}


def row(numbers, code):
    return next(r for r in numbers["stages"] if r["code"] == code)


def test_every_number_of_a_known_caseload(programme, caseload):
    n = reports.report_numbers(programme=programme, period=W47, today=D(2026, 11, 25))
    zero_flows = {"started": 0, "completed_in_period": 0, "previous_started": 0, "previous_completed_in_period": 0}
    expected = {
        "accommodation": {"planned": 0, "active": 1, "completed": 3, "discontinued": 0, "blocked": 0, "overdue_stages": 1,
                          "overdue_follow_ups": 1, **zero_flows, "completed_in_period": 2,
                          "median_days_to_complete": 20.0, "median_days_active": 55.0},
        "psychological": {"planned": 3, "active": 1, "completed": 0, "discontinued": 0, "blocked": 0, "overdue_stages": 0,
                          "overdue_follow_ups": 1, **zero_flows, "median_days_to_complete": None, "median_days_active": 24.0},
        "preschool": {"planned": 1, "active": 0, "completed": 0, "discontinued": 0, "blocked": 0, "overdue_stages": 0,
                      "overdue_follow_ups": 0, **zero_flows, "median_days_to_complete": None, "median_days_active": None},
        "school": {"planned": 0, "active": 1, "completed": 0, "discontinued": 0, "blocked": 0, "overdue_stages": 0,
                   "overdue_follow_ups": 0, **zero_flows, "started": 1, "median_days_to_complete": None, "median_days_active": 8.0},
        "documents": {"planned": 3, "active": 0, "completed": 0, "discontinued": 0, "blocked": 1, "overdue_stages": 0,
                      "overdue_follow_ups": 0, **zero_flows, "median_days_to_complete": None, "median_days_active": None},
        "housing": {"planned": 1, "active": 3, "completed": 0, "discontinued": 0, "blocked": 0, "overdue_stages": 0,
                    "overdue_follow_ups": 0, **zero_flows, "started": 2, "median_days_to_complete": None, "median_days_active": 3.0},
        "employment": {"planned": 2, "active": 0, "completed": 0, "discontinued": 0, "blocked": 0, "overdue_stages": 0,
                       "overdue_follow_ups": 0, **zero_flows, "median_days_to_complete": None, "median_days_active": None},
    }
    for code, values in expected.items():
        actual = {key: row(n, code)[key] for key in values}
        assert actual == values, code
    assert n["totals"] == {"planned": 10, "active": 6, "completed": 3, "discontinued": 0, "blocked": 1,
                           "started": 3, "completed_in_period": 2, "overdue_follow_ups": 2}
    assert n["overdue"] == {"total": 1, "stages": [{"case": "D", "stage": "Supervised accommodation", "status": "active",
                            "due_date": "2026-10-31", "days_overdue": 25, "caseworker": "caseworker"}]}
    assert [(s["case"], s["stage"]) for s in n["blocked"]["stages"]] == [("A", "Civil documents")]
    assert n["attention"] == {"people": 4, "children": 2, "children_without_school": 1, "people_without_documents": 3,
                              "adults_without_passport_or_id": 1, "in_centre_past_30_days": 1}


def test_the_period_follows_the_programme_calendar(programme, caseload):
    w48 = reports.period_parse("2026-W48")
    n = reports.report_numbers(programme=programme, period=w48, today=D(2026, 11, 25))
    # C's centre month ended at 00:00:00 on Monday 23 Nov, local time: W48, not W47.
    assert row(n, "accommodation")["completed_in_period"] == 1
    assert row(n, "accommodation")["previous_completed_in_period"] == 2
    assert row(n, "housing")["started"] == 1


def test_an_empty_programme(programme):
    n = reports.report_numbers(programme=programme, period=W47, today=D(2026, 11, 25))
    assert len(n["stages"]) == 7
    assert all(r[k] == 0 for r in n["stages"] for k in ("planned", "active", "completed", "blocked", "started"))
    assert n["overdue"] == {"total": 0, "stages": []} and n["blocked"]["total"] == 0
    assert set(n["attention"].values()) == {0}
    assert reports.report_chart(n).startswith(b"\x89PNG")
    assert len(list(csv.reader(io.StringIO(reports.report_csv(n).lstrip("\ufeff"))))) == 8


def test_changes_against_the_stored_previous_report(programme, caseload, caseworker, supervisor):
    reports.report_store(programme=programme, period=W47.previous())
    workflow.stage_start(stage_id=stage(caseload["c"], "psychological").pk, by=caseworker, on=D(2026, 11, 24))
    numbers = reports.report_build(programme=programme, period=W47)
    assert row(numbers, "psychological")["change"]["active"] == 1
    assert row(numbers, "psychological")["change"]["planned"] == -1
    assert numbers["compared_with_stored_report"] is True


def test_periods():
    assert (W47.start, W47.end) == (D(2026, 11, 16), D(2026, 11, 22))
    month = reports.period_parse("2026-12")
    assert (month.start, month.end, month.previous().label) == (D(2026, 12, 1), D(2026, 12, 31), "2026-11")
    assert reports.period_parse("2027-W01").previous().label == "2026-W53"
    for bad in ("2026-W60", "2026-13", "last week"):
        with pytest.raises(ValueError):
            reports.period_parse(bad)


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = previous


def test_the_report_is_sent_once_to_each_subscribed_supervisor(programme, caseload, supervisor, eager):
    unsubscribed = f.add_member(programme, f.UserFactory(username="supervisor-off"), "supervisor")
    ProgrammeMembership.objects.filter(user=unsubscribed).update(receives_reports=False)
    programme.stage_types.filter(code="school").update(name="Мектеп / School / مدرسة")
    for _ in range(2):  # the schedule fires twice
        with eager(execute=True):
            reports.report_send(programme=programme, period=W47)
            delivery.notifications_claim()
    assert StageReport.objects.count() == 1
    assert Notification.objects.filter(kind=NotificationKind.STAGE_REPORT).count() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [supervisor.email]
    message = mail.outbox[0].message()
    parts = {part.get_content_type(): part for part in message.walk()}
    assert {"text/plain", "text/html", "image/png", "text/csv", "multipart/related"} <= set(parts)
    assert parts["image/png"]["Content-ID"] == "<stage-funnel>"
    assert 'src="cid:stage-funnel"' in parts["text/html"].get_content()
    table = list(csv.DictReader(io.StringIO(parts["text/csv"].get_content().lstrip("\ufeff"))))
    assert [r["code"] for r in table][:4] == ["accommodation", "psychological", "preschool", "school"]
    assert table[3]["name"] == "Мектеп / School / مدرسة" and table[3]["period_start"] == "2026-11-16"
    # Only case references, never names.
    for person in (case.person for case in caseload.values()):
        assert person.given_name not in message.as_string()


def test_send_stage_reports_command(programme, caseload, supervisor):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("send_stage_reports", "--programme", programme.code, "--period", "2026-W47", "--dry-run", stdout=out)
    assert "would send to supervisor" in out.getvalue() and not StageReport.objects.exists()
    call_command("send_stage_reports", "--programme", programme.code, "--period", "2026-W47", stdout=StringIO())
    call_command("send_stage_reports", "--programme", programme.code, "--period", "2026-W47", stdout=StringIO())
    assert len(mail.outbox) == 1 and StageReport.objects.get().period == "2026-W47"


def test_schedule_is_per_programme_in_its_time_zone(programme):
    import json

    task = reports.report_schedule_ensure(programme=programme)
    assert task.task == "programmes.send_stage_report" and json.loads(task.kwargs) == {"programme_id": programme.pk}
    assert str(task.crontab.timezone) == "Asia/Almaty" and task.crontab.hour == "8"
    assert reports.report_schedule_ensure(programme=programme).pk == task.pk
