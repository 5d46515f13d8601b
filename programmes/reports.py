"""Supervisors' stage reports: the numbers (SQL aggregation), a funnel chart, a CSV, and their delivery.

A report covers one programme and one period of its local calendar (an ISO
week such as ``2026-W47`` or a month such as ``2026-11``). Status counts are
the state when the report is computed; "started" and "completed" count the
stages whose start or completion date falls in the period (a stage reopened
since no longer counts as completed). Every number is computed with a few
aggregate queries, whatever the size of the caseload. Lists name cases by
reference and caseworkers by username: the report is e-mailed.
"""

from __future__ import annotations

import datetime
import io
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    When,
)
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from core.spreadsheets import csv_writer
from notifications import kinds
from notifications.delivery import notification_create
from notifications.emails import ReportEmail
from programmes import rules
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    DocumentRequestStatus,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    Programme,
    ProgrammeMembershipRole,
    ReportPeriodKind,
    SchoolPlacement,
    StageKind,
    StageRecord,
    StageReport,
    StageStatus,
)

LIST_LIMIT = 50
CENTRE_DAYS = 30
STATUSES = [s.value for s in StageStatus]


# --- periods ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    label: str
    kind: str
    start: datetime.date
    end: datetime.date  # inclusive

    def previous(self) -> Period:
        return period_containing(self.start - datetime.timedelta(days=1), self.kind)


def period_parse(label: str) -> Period:
    """``2026-W47`` (ISO week) or ``2026-11`` (month)."""
    if match := re.fullmatch(r"(\d{4})-W(\d{2})", label):
        year, week = int(match[1]), int(match[2])
        try:
            start = datetime.date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise ValueError(f"No such ISO week: {label}") from exc
        return Period(label, ReportPeriodKind.WEEKLY, start, start + datetime.timedelta(days=6))
    if match := re.fullmatch(r"(\d{4})-(\d{2})", label):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise ValueError(f"No such month: {label}")
        start = datetime.date(year, month, 1)
        following = datetime.date(year + month // 12, month % 12 + 1, 1)
        return Period(label, ReportPeriodKind.MONTHLY, start, following - datetime.timedelta(days=1))
    raise ValueError(f"A period is written 2026-W47 or 2026-11, not {label!r}")


def period_containing(day: datetime.date, kind: str) -> Period:
    if kind == ReportPeriodKind.MONTHLY:
        return period_parse(f"{day:%Y-%m}")
    year, week, _ = day.isocalendar()
    return period_parse(f"{year}-W{week:02d}")


def period_last_complete(programme: Programme, kind: str, now: datetime.datetime | None = None) -> Period:
    """The last whole period before today on the programme's calendar."""
    return period_containing(rules.programme_today(programme, now), kind).previous()


# --- sections registered by the apps above ----------------------------------------------


@dataclass(frozen=True)
class ReportSection:
    """An extra section of the report, computed by an app above this one (the justice track):
    ``compute(programme=, period=, today=)`` returns its rows as (key, label, number)."""

    key: str
    title: str
    compute: Callable


_SECTIONS: dict[str, ReportSection] = {}


def register_section(section: ReportSection) -> None:
    """Called from an app's ``ready``: the report gains the section with no edit here."""
    _SECTIONS[section.key] = section


def _site_name(stage_type) -> str:
    """A stage type's name in the site's language: the report is stored and e-mailed in it."""
    with translation.override(settings.LANGUAGE_CODE):
        return stage_type.display_name


def _sections(programme: Programme, period: Period, today: datetime.date) -> list[dict]:
    # Stored with the report and e-mailed to every supervisor: in the site's language.
    with translation.override(settings.LANGUAGE_CODE):
        return [
            {
                "key": section.key,
                "title": str(section.title),
                "rows": [
                    {"key": key, "label": str(label), "value": value}
                    for key, label, value in section.compute(programme=programme, period=period, today=today)
                ],
            }
            for section in _SECTIONS.values()
        ]


# --- numbers ----------------------------------------------------------------------------


def _median(days: dict[int, int]) -> float | None:
    """The median of durations counted as {days: number of stages}.

    Halfway between the middle two of an even count: the figure PostgreSQL's
    PERCENTILE_CONT(0.5) or statistics.median gives over the durations one by one,
    without fetching a row per stage.
    """
    count = sum(days.values())
    if not count:
        return None
    low, high = (count - 1) // 2, count // 2
    seen, middle = 0, []
    for value in sorted(days):
        seen += days[value]
        while len(middle) < 2 and seen > (low, high)[len(middle)]:
            middle.append(value)
    return (middle[0] + middle[1]) / 2


# Every enrolment status but "active" (the check constraint allows no others), spelled out
# so that the (programme, status) index finds them.
ENDED_ENROLMENT_STATUSES = [s.value for s in EnrolmentStatus if s != EnrolmentStatus.ACTIVE]


def _enrolment_active(programme: Programme, enrolment_id: str = "enrolment_id") -> Exists:
    """A filter for the programme's stages (or their details): the enrolment is active.

    Written as "no ended enrolment of the programme has this id" so that PostgreSQL
    hashes the programme's ended enrolments, usually few, rather than all its active
    ones: probing a small table per stage costs far less than joining every stage to
    its enrolment, which was the largest part of the report's time. Exact for stages
    of the programme's stage types, since a stage plan is built from the enrolment's
    own programme's catalogue.
    """
    ended = Enrolment.objects.filter(programme=programme, status__in=ENDED_ENROLMENT_STATUSES)
    return ~Exists(ended.filter(pk=OuterRef(enrolment_id)))


def report_numbers(*, programme: Programme, period: Period, today: datetime.date | None = None) -> dict:
    """Every number of the report, as plain data (stored with the report and returned by the API).

    Eight queries whatever the caseload: one pass over the programme's stages for
    the status counts and the days of the active ones, the stages started or
    completed in the two periods and the durations of this period's completions
    (both by index), the overdue follow-ups, two short lists, and one pass over the
    active enrolments for the attention counts. The medians are computed here from
    the durations counted per day.
    """
    today = today or rules.programme_today(programme)
    previous = period.previous()
    stage_types = list(programme.stage_types.filter(is_active=True).order_by("position", "code"))
    # Only the active stage types have a row. A stage type belongs to one programme, so
    # filtering on them finds the programme's stages without joining the enrolments.
    # order_by(): no default ordering (and its joins) in the aggregations.
    all_stages = StageRecord.objects.filter(stage_type__programme=programme, stage_type__is_active=True).order_by()
    stages = all_stages.filter(_enrolment_active(programme))
    completed = StageStatus.COMPLETED

    per_type: dict[int, dict] = defaultdict(lambda: {"days_active": {}, "days_to_complete": {}})
    # Grouped by start date too for the active stages (a few hundred groups per stage
    # type): their median days in stage comes from these counts, in the same pass.
    since = Case(When(status=StageStatus.ACTIVE, then=F("started_on")), output_field=DateField())
    # "Overdue" is the rules' (programmes.rules), on the programme's today; the stages are
    # already those of active enrolments.
    overdue_stage = rules.stage_overdue_q(today=today, enrolment_active=Q())
    for row in stages.values("stage_type_id", "status", since=since).annotate(
        n=Count("*"), overdue=Count("pk", filter=overdue_stage)
    ):
        counts = per_type[row["stage_type_id"]]
        counts[row["status"]] = counts.get(row["status"], 0) + row["n"]
        counts["overdue_stages"] = counts.get("overdue_stages", 0) + row["overdue"]
        if row["since"] is not None:
            counts["days_active"][(today - row["since"]).days] = row["n"]
    # Starts and completions of both periods, whatever the enrolment's status now:
    # found through the start and completion date indexes, not a pass over all stages.
    in_period = (period.start, period.end)
    in_previous = (previous.start, previous.end)
    for row in (
        all_stages.filter(
            Q(started_on__range=(previous.start, period.end))
            | Q(status=completed, completed_on__range=(previous.start, period.end))
        )
        .values("stage_type_id")
        .annotate(
            started=Count("pk", filter=Q(started_on__range=in_period)),
            completed_in_period=Count("pk", filter=Q(status=completed, completed_on__range=in_period)),
            previous_started=Count("pk", filter=Q(started_on__range=in_previous)),
            previous_completed_in_period=Count("pk", filter=Q(status=completed, completed_on__range=in_previous)),
        )
    ):
        per_type[row.pop("stage_type_id")].update(row)
    for row in (
        all_stages.filter(status=completed, completed_on__range=in_period)
        .values("stage_type_id", "started_on", "completed_on")
        .annotate(n=Count("pk"))
    ):
        days = per_type[row["stage_type_id"]]["days_to_complete"]
        duration = (row["completed_on"] - row["started_on"]).days
        days[duration] = days.get(duration, 0) + row["n"]
    overdue_follow_ups = dict(
        FollowUp.objects.filter(
            rules.follow_up_overdue_q(
                today=today, enrolment_active=_enrolment_active(programme, "stage__enrolment_id")
            ),
            stage__stage_type__programme=programme,
            stage__stage_type__is_active=True,
        )
        .order_by()
        .values("stage__stage_type_id")
        .annotate(n=Count("pk"))
        .values_list("stage__stage_type_id", "n")
    )

    counted = ["overdue_stages", "started", "completed_in_period", "previous_started", "previous_completed_in_period"]
    rows = [
        {
            "code": stage_type.code,
            "name": _site_name(stage_type),
            **{key: per_type[stage_type.pk].get(key, 0) for key in [*STATUSES, *counted]},
            "overdue_follow_ups": overdue_follow_ups.get(stage_type.pk, 0),
            "median_days_to_complete": _median(per_type[stage_type.pk]["days_to_complete"]),
            "median_days_active": _median(per_type[stage_type.pk]["days_active"]),
        }
        for stage_type in stage_types
    ]

    # The lists show stages of any of the programme's stage types, found by enrolment
    # as before: the due date index keeps them cheap.
    listed = StageRecord.objects.filter(enrolment__programme=programme, enrolment__status=EnrolmentStatus.ACTIVE)

    def stage_list(queryset):
        queryset = queryset.select_related("stage_type", "enrolment__case__caseworker").order_by("due_date", "id")
        return [
            {
                "case": stage.enrolment.case.reference,
                "stage": _site_name(stage.stage_type),
                "status": stage.status,
                "due_date": stage.due_date.isoformat(),
                "days_overdue": max((today - stage.due_date).days, 0),
                "caseworker": stage.enrolment.case.caseworker.get_username() if stage.enrolment.case.caseworker else "",
            }
            for stage in queryset[:LIST_LIMIT]
        ]

    totals = {key: sum(row[key] for row in rows) for key in [*STATUSES, *counted, "overdue_follow_ups"]}
    overdue_list = stage_list(listed.filter(rules.stage_overdue_q(today=today)))
    blocked_list = stage_list(listed.filter(status=StageStatus.BLOCKED))
    return {
        "programme": {"code": programme.code, "name": programme.name, "time_zone": programme.time_zone},
        "period": {
            "label": period.label,
            "kind": period.kind,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "previous_period": previous.label,
        "computed_on": today.isoformat(),
        "stages": rows,
        "totals": {key: totals[key] for key in [*STATUSES, "started", "completed_in_period", "overdue_follow_ups"]},
        "overdue": {"total": totals["overdue_stages"], "stages": overdue_list},
        "blocked": {"total": totals["blocked"], "stages": blocked_list},
        "attention": _attention(programme, today),
        "sections": _sections(programme, period, today),
    }


class EqualsAny(Func):
    """``value = ANY(array)`` (PostgreSQL): the value is one of the array's elements."""

    arg_joiner = " = ANY("
    template = "%(expressions)s)"
    output_field = BooleanField()


def _stages_having(details):
    """A filter for the stage records that one of ``details`` (stage detail records) belongs to."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        # PostgreSQL looks the stages up by primary key, a few thousand probes of the
        # index, where "IN (subquery)" has it hash the details against a pass over
        # every stage record.
        return EqualsAny(F("pk"), ArraySubquery(details.order_by().values("stage_id")))
    return Q(pk__in=details.values("stage_id"))


def _enrolments_of(stages) -> Subquery:
    """How many enrolments the stages belong to, as a scalar subquery (in the same snapshot as its query)."""
    count = Func(F("enrolment_id"), template="COUNT(DISTINCT %(expressions)s)", output_field=IntegerField())
    return Subquery(stages.order_by().values(n=count))


def _attention(programme: Programme, today: datetime.date) -> dict[str, int]:
    """People who need attention, in one pass over the active enrolments.

    Each condition on a person is membership in an uncorrelated subquery, which
    PostgreSQL computes once and probes as a hash table. The people without an
    issued document are the others: counting the few with one from the documents'
    side costs less than probing every person.
    """
    enrolments = Enrolment.objects.filter(programme=programme, status=EnrolmentStatus.ACTIVE).order_by()
    child = rules.child_q(birth_field="case__person__date_of_birth", today=today)
    # Stage types belong to one programme: filtering on them spares a join with the
    # enrolments. Their ids, a few, are read first and written into the query, so that
    # PostgreSQL reads the programme's own stage records by the stage type index
    # rather than every stage record of every programme through a join.
    stage_types = dict(programme.stage_types.values_list("id", "kind"))
    schooling = [pk for pk, kind in stage_types.items() if kind == StageKind.SCHOOLING]
    in_programme = Q(stage__stage_type_id__in=list(stage_types))
    with_schooling = StageRecord.objects.filter(stage_type_id__in=schooling).values("enrolment_id")
    at_school = SchoolPlacement.objects.filter(stage__stage_type_id__in=schooling, left_on__isnull=True).values(
        "stage__enrolment_id"
    )
    issued = DocumentRequest.objects.filter(status=DocumentRequestStatus.ISSUED)
    programme_stages = StageRecord.objects.filter(stage_type_id__in=list(stage_types))
    with_documents = programme_stages.filter(_stages_having(issued), _enrolment_active(programme))
    with_passport_or_id = programme_stages.filter(
        _stages_having(issued.filter(document_type__in=["passport", "national_id"]))
    ).values("enrolment_id")
    in_centre = AccommodationStay.objects.filter(
        in_programme, exited_on__isnull=True, arrived_on__lt=today - datetime.timedelta(days=CENTRE_DAYS)
    ).values("stage__enrolment_id")
    return enrolments.aggregate(
        people=Count("id"),
        children=Count("id", filter=child),
        children_without_school=Count("id", filter=child & Q(id__in=with_schooling) & ~Q(id__in=at_school)),
        people_without_documents=Count("id") - _enrolments_of(with_documents),
        adults_without_passport_or_id=Count("id", filter=~child & ~Q(id__in=with_passport_or_id)),
        in_centre_past_30_days=Count("id", filter=Q(id__in=in_centre)),
    )


def numbers_with_changes(numbers: dict, previous: dict | None) -> dict:
    """Add each stage row's change in status counts against the previous report, where there is one."""
    previous_rows = {row["code"]: row for row in (previous or {}).get("stages", [])}
    for row in numbers["stages"]:
        before = previous_rows.get(row["code"])
        row["change"] = {status: row[status] - before[status] for status in STATUSES} if before else None
    numbers["compared_with_stored_report"] = previous is not None
    return numbers


# --- chart and CSV ---------------------------------------------------------------------

STATUS_COLOURS = {
    "planned": "#b8c4d6",
    "active": "#1f5fa8",
    "blocked": "#d9822b",
    "completed": "#2e8b57",
    "discontinued": "#8a8f98",
}


# The legend says what the HTML table's columns say (same context, same translations).
CHART_STATUS_LABELS = {
    "planned": pgettext_lazy("stage report column", "planned"),
    "active": pgettext_lazy("stage report column", "active"),
    "blocked": pgettext_lazy("stage report column", "blocked"),
    "completed": pgettext_lazy("stage report column", "completed"),
    "discontinued": pgettext_lazy("stage report column", "discontinued"),
}


def report_chart(numbers: dict) -> bytes:
    """The stage funnel as a PNG: people per stage and status, with the change since last period."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    # Stored with the report's text: the same language, whoever triggers it.
    with translation.override(settings.LANGUAGE_CODE):
        rows = list(reversed(numbers["stages"]))
        names = [row["name"] for row in rows]
        figure, axes = pyplot.subplots(figsize=(7, 0.55 * len(rows) + 1.8), dpi=130)
        left = [0] * len(rows)
        for status in STATUSES:
            values = [row[status] for row in rows]
            label = str(CHART_STATUS_LABELS[status])
            axes.barh(names, values, left=left, color=STATUS_COLOURS[status], label=label, height=0.6)
            left = [a + b for a, b in zip(left, values)]
        for index, row in enumerate(rows):
            change = row.get("change")
            active = gettext("{count} active").format(count=row["active"]) + (
                f" ({change['active']:+d})" if change else ""
            )
            completed = row["completed_in_period"] - row["previous_completed_in_period"]
            completed_label = gettext("{count} completed ({change})").format(
                count=row["completed_in_period"], change=f"{completed:+d}"
            )
            label = f"{active}\n{completed_label}"
            axes.text(left[index] + max(max(left), 1) * 0.01, index, label, va="center", fontsize=7, linespacing=1.3)
        axes.set_xlim(0, max(max(left, default=0), 1) * 1.4)
        axes.set_xlabel(gettext("people"))
        axes.set_title(
            f"{numbers['programme']['name']} — {numbers['period']['label']}\n"
            + gettext("people per stage and status; in brackets: change on the previous period"),
            fontsize=9,
        )
        axes.legend(ncol=5, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        pyplot.close(figure)
    return buffer.getvalue()


CSV_COLUMNS = [
    "code",
    "name",
    *STATUSES,
    "overdue_stages",
    "overdue_follow_ups",
    "started",
    "completed_in_period",
    "previous_started",
    "previous_completed_in_period",
    "median_days_to_complete",
    "median_days_active",
]


def report_csv(numbers: dict) -> str:
    """The per-stage table; UTF-8 with a byte-order mark so spreadsheets read any script.

    Names are written so that a spreadsheet never runs one as a formula (core.spreadsheets).
    """
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["period", "period_start", "period_end", *CSV_COLUMNS])
    period = numbers["period"]
    for row in numbers["stages"]:
        writer.writerow(
            [
                period["label"],
                period["start"],
                period["end"],
                *(row[column] if row[column] is not None else "" for column in CSV_COLUMNS),
            ]
        )
    return "\ufeff" + buffer.getvalue()


# --- building, storing and sending ---------------------------------------------------


def report_render(numbers: dict) -> tuple[str, str, str]:
    context = {"n": numbers, "statuses": STATUSES, "site_url": settings.SITE_URL}
    # Stored once and sent to every supervisor: the site's language, not the language of
    # whoever happens to trigger it from the admin.
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string("programmes/emails/stage_report_subject.txt", context).split())
        text = render_to_string("programmes/emails/stage_report_body.txt", context)
        html = render_to_string("programmes/emails/stage_report_body.html", context)
    return subject, text, html


def report_build(*, programme: Programme, period: Period, now: datetime.datetime | None = None) -> dict:
    """Compute a report without storing it (preview, dry run, API)."""
    previous = StageReport.objects.filter(programme=programme, period=period.previous().label).first()
    numbers = report_numbers(programme=programme, period=period, today=rules.programme_today(programme, now))
    return numbers_with_changes(numbers, previous.numbers if previous else None)


def report_store(
    *, programme: Programme, period: Period, now: datetime.datetime | None = None
) -> tuple[StageReport, bool]:
    """The stored report of a period: computed and stored once, then always the same."""
    existing = StageReport.objects.filter(programme=programme, period=period.label).first()
    if existing:
        return existing, False
    numbers = report_build(programme=programme, period=period, now=now)
    subject, text, html = report_render(numbers)
    try:
        with transaction.atomic():
            report = StageReport.objects.create(
                programme=programme,
                period=period.label,
                period_kind=period.kind,
                period_start=period.start,
                period_end=period.end,
                numbers=numbers,
                subject=subject,
                text=text,
                html=html,
                csv=report_csv(numbers),
                chart_png=report_chart(numbers),
            )
    except IntegrityError:
        # A concurrent run stored it first: theirs is the report.
        return StageReport.objects.get(programme=programme, period=period.label), False
    return report, True


def report_recipients(programme: Programme):
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            programme_memberships__programme=programme,
            programme_memberships__role=ProgrammeMembershipRole.SUPERVISOR,
            programme_memberships__receives_reports=True,
        )
        .exclude(email="")
        .distinct()
    )


@transaction.atomic
def report_send(*, programme: Programme, period: Period, now: datetime.datetime | None = None) -> StageReport:
    """Store the period's report and put one e-mail per subscribed supervisor in the outbox (idempotent)."""
    report, _ = report_store(programme=programme, period=period, now=now)
    for supervisor in report_recipients(programme):
        notification_create(
            kind=STAGE_REPORT_KIND,
            subject_type=STAGE_REPORT_KIND,
            subject_id=report.pk,
            recipient=supervisor,
            due_on=period.end + datetime.timedelta(days=1),
        )
    return report


# --- e-mail ----------------------------------------------------------------------------

#: The outbox's kind (and subject type) of a report e-mail (``register_emails``).
STAGE_REPORT_KIND = "stage_report"


def render_report_email(notification):
    """The stored report as an e-mail: text and HTML, the chart inline, the CSV attached."""
    report = StageReport.objects.select_related("programme").filter(pk=notification.subject_id).first()
    if report is None:
        return None
    return ReportEmail(
        subject=report.subject,
        body=report.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        headers={"Message-ID": notification.message_id, "Auto-Submitted": "auto-generated"},
        html=report.html,
        chart_png=bytes(report.chart_png),
        csv_name=f"stage-report-{report.programme.code}-{report.period}.csv",
        csv_text=report.csv,
    )


def register_emails() -> None:
    """Tell the outbox about the report e-mail (called from ``programmes.apps``)."""
    kinds.register(
        kinds.EmailKind(
            key=STAGE_REPORT_KIND,
            label=gettext_lazy("Stage report"),
            subject_types=(STAGE_REPORT_KIND,),
            render=render_report_email,
        )
    )


# --- schedule --------------------------------------------------------------------------

REPORT_TASK = "programmes.send_stage_report"


def report_schedule_ensure(*, programme: Programme, day_of_week: str = "1", hour: int = 8):
    """Install the programme's report schedule if it has none (Mondays at 08:00 local by default).

    It is a django-celery-beat periodic task in the programme's time zone, so
    administrators change the day and hour in the admin (Periodic tasks).
    """
    import json

    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    name = f"Stage report: {programme.code}"
    kwargs = json.dumps({"programme_id": programme.pk})
    existing = PeriodicTask.objects.filter(name=name).first()
    if existing:
        # Keep the administrators' day and hour; only follow the programme's id.
        if existing.kwargs != kwargs:
            existing.kwargs = kwargs
            existing.save(update_fields=["kwargs"])
        return existing
    day_of_month = "1" if programme.report_frequency == ReportPeriodKind.MONTHLY else "*"
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour=str(hour),
        day_of_week="*" if day_of_month == "1" else day_of_week,
        day_of_month=day_of_month,
        month_of_year="*",
        timezone=programme.time_zone,
    )
    return PeriodicTask.objects.create(name=name, task=REPORT_TASK, crontab=schedule, kwargs=kwargs)
