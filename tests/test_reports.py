"""Supervisors' stage reports: every number checked against a caseload built by hand."""

import csv
import datetime
import io
import statistics
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from casework.models import ADULT_AGE, years_before
from config.celery import app
from notifications import delivery
from notifications.models import Notification
from programmes import reports, workflow
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    Enrolment,
    FollowUp,
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
    SchoolPlacement.objects.create(
        stage=stage(b, "school"), institution="School (test)", level="school", grade=4, enrolled_on=D(2026, 11, 17)
    )
    workflow.stage_complete(stage_id=stage(b, "school").pk, by=by, outcome="Mistake (test).", on=D(2026, 11, 18))
    workflow.stage_reopen(stage_id=stage(b, "school").pk, by=by, reason="Completed by mistake (test).")

    # C: the centre month completed at the first second of Monday 23 Nov: next period.
    workflow.stage_start(stage_id=stage(c, "accommodation").pk, by=by, on=D(2026, 11, 1))
    clock.set(2026, 11, 23, 0, 0, 0)
    workflow.stage_complete(stage_id=stage(c, "accommodation").pk, by=by, outcome="Left (test).")

    # D: still in the centre since 1 Oct (its stage overdue since 31 Oct); a passport issued.
    workflow.stage_start(stage_id=stage(d, "accommodation").pk, by=by, on=D(2026, 10, 1))
    AccommodationStay.objects.create(stage=stage(d, "accommodation"), centre="Centre (test)", arrived_on=D(2026, 10, 1))
    DocumentRequest.objects.create(
        stage=stage(d, "documents"),
        document_type="passport",
        status="issued",
        requested_on=D(2026, 10, 5),
        issued_on=D(2026, 11, 2),
        number="TEST-1",
    )

    clock.set(2026, 11, 25, 10, 0)
    return {"a": a, "b": b, "c": c, "d": d}


def row(numbers, code):
    return next(r for r in numbers["stages"] if r["code"] == code)


def test_every_number_of_a_known_caseload(programme, caseload):
    n = reports.report_numbers(programme=programme, period=W47, today=D(2026, 11, 25))
    zero_flows = {"started": 0, "completed_in_period": 0, "previous_started": 0, "previous_completed_in_period": 0}
    expected = {
        "accommodation": {
            "planned": 0,
            "active": 1,
            "completed": 3,
            "discontinued": 0,
            "blocked": 0,
            "overdue_stages": 1,
            "overdue_follow_ups": 1,
            **zero_flows,
            "completed_in_period": 2,
            "median_days_to_complete": 20.0,
            "median_days_active": 55.0,
        },
        "psychological": {
            "planned": 3,
            "active": 1,
            "completed": 0,
            "discontinued": 0,
            "blocked": 0,
            "overdue_stages": 0,
            "overdue_follow_ups": 1,
            **zero_flows,
            "median_days_to_complete": None,
            "median_days_active": 24.0,
        },
        "preschool": {
            "planned": 1,
            "active": 0,
            "completed": 0,
            "discontinued": 0,
            "blocked": 0,
            "overdue_stages": 0,
            "overdue_follow_ups": 0,
            **zero_flows,
            "median_days_to_complete": None,
            "median_days_active": None,
        },
        "school": {
            "planned": 0,
            "active": 1,
            "completed": 0,
            "discontinued": 0,
            "blocked": 0,
            "overdue_stages": 0,
            "overdue_follow_ups": 0,
            **zero_flows,
            "started": 1,
            "median_days_to_complete": None,
            "median_days_active": 8.0,
        },
        "documents": {
            "planned": 3,
            "active": 0,
            "completed": 0,
            "discontinued": 0,
            "blocked": 1,
            "overdue_stages": 0,
            "overdue_follow_ups": 0,
            **zero_flows,
            "median_days_to_complete": None,
            "median_days_active": None,
        },
        "housing": {
            "planned": 1,
            "active": 3,
            "completed": 0,
            "discontinued": 0,
            "blocked": 0,
            "overdue_stages": 0,
            "overdue_follow_ups": 0,
            **zero_flows,
            "started": 2,
            "median_days_to_complete": None,
            "median_days_active": 3.0,
        },
        "employment": {
            "planned": 2,
            "active": 0,
            "completed": 0,
            "discontinued": 0,
            "blocked": 0,
            "overdue_stages": 0,
            "overdue_follow_ups": 0,
            **zero_flows,
            "median_days_to_complete": None,
            "median_days_active": None,
        },
    }
    for code, values in expected.items():
        actual = {key: row(n, code)[key] for key in values}
        assert actual == values, code
    assert n["totals"] == {
        "planned": 10,
        "active": 6,
        "completed": 3,
        "discontinued": 0,
        "blocked": 1,
        "started": 3,
        "completed_in_period": 2,
        "overdue_follow_ups": 2,
    }
    assert n["overdue"] == {
        "total": 1,
        "stages": [
            {
                "case": "D",
                "stage": "Supervised accommodation",
                "status": "active",
                "due_date": "2026-10-31",
                "days_overdue": 25,
                "caseworker": "caseworker",
            }
        ],
    }
    assert [(s["case"], s["stage"]) for s in n["blocked"]["stages"]] == [("A", "Civil documents")]
    assert n["attention"] == {
        "people": 4,
        "children": 2,
        "children_without_school": 1,
        "people_without_documents": 3,
        "adults_without_passport_or_id": 1,
        "in_centre_past_30_days": 1,
    }


def reference_numbers(programme, period, today):
    """The report's figures by their definitions, one record at a time, to check the SQL against."""
    previous = period.previous()
    stage_types = list(programme.stage_types.filter(is_active=True).order_by("position", "code"))
    stages = list(StageRecord.objects.filter(enrolment__programme=programme).select_related("enrolment", "stage_type"))
    current = [s for s in stages if s.enrolment.status == "active"]
    open_statuses = ("planned", "active", "blocked")

    def within(day, span):
        return day is not None and span.start <= day <= span.end

    def median(values):
        return float(statistics.median(values)) if values else None

    rows = {}
    for stage_type in stage_types:
        mine = [s for s in stages if s.stage_type_id == stage_type.pk]
        now = [s for s in current if s.stage_type_id == stage_type.pk]
        done = [s for s in mine if s.status == "completed" and within(s.completed_on, period)]
        rows[stage_type.code] = {
            **{status: sum(s.status == status for s in now) for status in reports.STATUSES},
            "overdue_stages": sum(s.status in open_statuses and s.due_date < today for s in now),
            "started": sum(within(s.started_on, period) for s in mine),
            "completed_in_period": len(done),
            "previous_started": sum(within(s.started_on, previous) for s in mine),
            "previous_completed_in_period": sum(
                s.status == "completed" and within(s.completed_on, previous) for s in mine
            ),
            "overdue_follow_ups": FollowUp.objects.filter(
                stage__in=now, done_on__isnull=True, cancelled_on__isnull=True, due_date__lt=today
            ).count(),
            "median_days_to_complete": median([(s.completed_on - s.started_on).days for s in done]),
            "median_days_active": median([(today - s.started_on).days for s in now if s.status == "active"]),
        }

    adult_from = years_before(today, ADULT_AGE)
    attention = dict.fromkeys(
        [
            "people",
            "children",
            "children_without_school",
            "people_without_documents",
            "adults_without_passport_or_id",
            "in_centre_past_30_days",
        ],
        0,
    )
    for enrolment in Enrolment.objects.filter(programme=programme, status="active").select_related("case__person"):
        child = enrolment.case.person.date_of_birth > adult_from
        own = [s for s in stages if s.enrolment_id == enrolment.pk and s.stage_type.programme_id == programme.pk]
        schooling = [s for s in own if s.stage_type.kind == "schooling"]
        at_school = SchoolPlacement.objects.filter(stage__in=schooling, left_on__isnull=True).exists()
        issued = DocumentRequest.objects.filter(stage__in=own, status="issued")
        in_centre = AccommodationStay.objects.filter(
            stage__in=own, exited_on__isnull=True, arrived_on__lt=today - datetime.timedelta(days=reports.CENTRE_DAYS)
        ).exists()
        attention["people"] += 1
        attention["children"] += child
        attention["children_without_school"] += child and bool(schooling) and not at_school
        attention["people_without_documents"] += not issued.exists()
        attention["adults_without_passport_or_id"] += (
            not child and not issued.filter(document_type__in=["passport", "national_id"]).exists()
        )
        attention["in_centre_past_30_days"] += in_centre
    overdue = sorted(
        (s for s in current if s.status in open_statuses and s.due_date < today), key=lambda s: (s.due_date, s.pk)
    )
    blocked = sorted((s for s in current if s.status == "blocked"), key=lambda s: (s.due_date, s.pk))
    return rows, attention, [s.pk for s in overdue], [s.pk for s in blocked]


def test_the_numbers_follow_their_definitions_with_ended_enrolments(programme, other_programme, caseload, caseworker):
    by = caseworker

    def enrolled(reference, age, in_programme):
        person = f.PersonFactory(date_of_birth=f.born_years_ago(age, D(2026, 11, 1)))
        case = f.CaseFactory(reference=reference, person=person, caseworker=caseworker, arrival_date=D(2026, 10, 20))
        # Enrolled by the system: the caseworker does not work in the other programme.
        return case, f.enrol(case, in_programme, by=None, enrolled_on=D(2026, 10, 20))

    # E: started and completed stages in the period, an open follow-up, a stay, a passport,
    # then the enrolment ended. Its stages leave the status counts, medians, follow-ups and
    # attention, but its starts and completions still count.
    e, e_enrolment = enrolled("E", 35, programme)
    workflow.stage_start(stage_id=stage(e, "psychological").pk, by=by, on=D(2026, 10, 20))
    workflow.stage_start(stage_id=stage(e, "accommodation").pk, by=by, on=D(2026, 11, 17))
    workflow.stage_start(stage_id=stage(e, "documents").pk, by=by, on=D(2026, 10, 21))
    workflow.stage_complete(stage_id=stage(e, "documents").pk, by=by, outcome="Issued (test).", on=D(2026, 11, 18))
    AccommodationStay.objects.create(stage=stage(e, "accommodation"), centre="Centre (test)", arrived_on=D(2026, 10, 1))
    DocumentRequest.objects.create(
        stage=stage(e, "documents"),
        document_type="passport",
        status="issued",
        requested_on=D(2026, 10, 21),
        issued_on=D(2026, 11, 18),
        number="TEST-2",
    )
    Enrolment.objects.filter(pk=e_enrolment.pk).update(status="completed", ended_on=D(2026, 11, 24))
    # C withdrew: a child no longer counted anywhere but in the flows.
    Enrolment.objects.filter(case=caseload["c"]).update(status="withdrawn", ended_on=D(2026, 11, 24))
    # Another programme's people and stages count only in theirs.
    o, _ = enrolled("O", 30, other_programme)
    other_stage = StageRecord.objects.get(enrolment__case=o, stage_type__code="psychological")
    workflow.stage_start(stage_id=other_stage.pk, by=by, on=D(2026, 11, 17))
    # A stage type taken out of the catalogue has no row, but its stages still name people.
    programme.stage_types.filter(code="employment").update(is_active=False)

    for period in (W47, reports.period_parse("2026-W48"), reports.period_parse("2026-11")):
        n = reports.report_numbers(programme=programme, period=period, today=D(2026, 11, 25))
        rows, attention, overdue, blocked = reference_numbers(programme, period, D(2026, 11, 25))
        assert {r["code"]: {k: v for k, v in r.items() if k not in ("code", "name")} for r in n["stages"]} == rows, (
            period
        )
        assert n["attention"] == attention
        assert n["overdue"]["total"] == len(overdue) and n["blocked"]["total"] == len(blocked)
        assert [s["case"] for s in n["overdue"]["stages"]] == [
            StageRecord.objects.get(pk=pk).enrolment.case.reference for pk in overdue
        ]
    n = reports.report_numbers(programme=programme, period=W47, today=D(2026, 11, 25))
    # E's accommodation started in W47, though the enrolment has ended since.
    assert row(n, "accommodation")["started"] == 1 and row(n, "accommodation")["active"] == 1
    assert row(n, "documents")["completed_in_period"] == 1 and row(n, "documents")["median_days_to_complete"] == 28.0
    assert row(n, "psychological")["median_days_active"] == 24.0
    assert n["attention"]["people"] == 3 and n["attention"]["in_centre_past_30_days"] == 1


def test_median_of_counted_durations():
    assert reports._median({}) is None
    for durations in ([5], [3, 1], [4, 4, 1, 9], [2, 2, 2], [0, 7, 7, 1, 30], [10, 11]):
        counted = {}
        for days in durations:
            counted[days] = counted.get(days, 0) + 1
        assert reports._median(counted) == float(statistics.median(durations)), durations


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
    assert Notification.objects.filter(kind=reports.STAGE_REPORT_KIND).count() == 1
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
