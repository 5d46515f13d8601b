"""Benchmark: computing a stage report for a programme of 100,000 cases on PostgreSQL.

Usage (a throw-away database; it is dropped and re-created):

    createdb -h 127.0.0.1 -U postgres rehab_bench   # once
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rehab_bench .venv/bin/python bench/bench_report.py [--cases 100000]

Each case gets the stage plan its age calls for (about 5.3 stages), in every
status, with follow-ups, school placements, document requests and centre stays;
then ``report_numbers`` (all the report's figures) is timed several times, with
the median time of each of its queries, and the chart and CSV once.
"""

from __future__ import annotations

import argparse
import statistics

from common import bench_programme, fresh_schema, step
from django.db import connection

RUNS = 7


def build(cases: int) -> None:
    from casework.names import name_key
    from programmes.models import StageType

    programme, worker = bench_programme()
    today = programme.local_today()
    types = {t.code: t.pk for t in StageType.objects.filter(programme=programme)}
    with connection.cursor() as cursor, step(f"insert {cases:,} persons, cases and enrolments"):
        # Two in three are children, as in the real caseload.
        cursor.execute(
            """INSERT INTO casework_person (given_name, family_name, patronymic, sex, date_of_birth,
                   date_of_birth_estimated, place_of_birth, nationality, languages, search_key, created_at, updated_at)
               SELECT 'Benchgiven' || g, 'Benchsample', '', CASE WHEN g %% 2 = 0 THEN 'female' ELSE 'male' END,
                      CASE WHEN g %% 3 = 0 THEN %s::date - (9000 + g %% 6000) ELSE %s::date - (400 + g %% 6000) END,
                      false, '', 'KZ', '[]'::jsonb, %s, now(), now()
               FROM generate_series(1, %s) g""",
            # The search key drops digits: every bench person has the same one.
            [today, today, name_key("Benchgiven Benchsample"), cases],
        )
        cursor.execute(
            """INSERT INTO casework_case (reference, person_id, caseworker_id, status, risk_level, legal_status,
                   arrival_date, opened_on, created_at, updated_at)
               SELECT 'B-' || p.id, p.id, %s, 'open', 'low', 'none', %s::date - (p.id %% 600)::int,
                      %s::date - (p.id %% 600)::int, now(), now()
               FROM casework_person p""",
            [worker.pk, today, today],
        )
        cursor.execute(
            """INSERT INTO programmes_enrolment (case_id, programme_id, status, enrolled_on, created_at)
               SELECT c.id, %s, 'active', c.arrival_date, now() FROM casework_case c""",
            [programme.pk],
        )
    with connection.cursor() as cursor, step("insert stage records in every status"):
        # The status follows the enrolment id, so every status appears in every stage type.
        cursor.execute(
            """INSERT INTO programmes_stagerecord (enrolment_id, stage_type_id, status, planned_start, due_date,
                   started_on, completed_on, responsible_user_id, outcome, status_reason, version, updated_at)
               SELECT e.id, t.id, s.status, e.enrolled_on + t.start_offset_days,
                      e.enrolled_on + t.start_offset_days + t.default_duration_days,
                      CASE WHEN s.status = 'planned' THEN NULL ELSE e.enrolled_on + t.start_offset_days END,
                      CASE WHEN s.status = 'completed' THEN e.enrolled_on + t.start_offset_days + (e.id %% 40)::int END,
                      %s, '', '', 1, now()
               FROM programmes_enrolment e
               JOIN casework_case c ON c.id = e.case_id
               JOIN casework_person p ON p.id = c.person_id
               JOIN programmes_stagetype t ON t.programme_id = e.programme_id
               CROSS JOIN LATERAL (SELECT (ARRAY['planned','active','completed','blocked','discontinued'])[1 + (e.id + t.id) %% 5] AS status) s
               WHERE (t.applies_to = 'everyone'
                      OR (t.applies_to = 'adults' AND p.date_of_birth <= %s::date - 6575)
                      OR (t.applies_to = 'children' AND p.date_of_birth > %s::date - 6575))
                 AND (t.min_age_years IS NULL OR p.date_of_birth <= %s::date - 365 * t.min_age_years)
                 AND (t.max_age_years IS NULL OR p.date_of_birth > %s::date - 365 * (t.max_age_years + 1))""",
            [worker.pk, today, today, today, today],
        )
    with connection.cursor() as cursor, step("insert follow-ups and stage details"):
        cursor.execute(
            """INSERT INTO programmes_followup (stage_id, kind, due_date, assignee_id, done_on, outcome, cancelled_on, created_at, updated_at)
               SELECT s.id, 'visit', s.started_on + 14 * n, %s,
                      CASE WHEN n < 3 THEN s.started_on + 14 * n END, CASE WHEN n < 3 THEN 'Held (bench).' ELSE '' END,
                      NULL, now(), now()
               FROM programmes_stagerecord s CROSS JOIN generate_series(1, 3) n WHERE s.status = 'active'""",
            [worker.pk],
        )
        cursor.execute(
            """INSERT INTO programmes_schoolplacement (stage_id, institution, level, grade, language_support, enrolled_on, left_on)
               SELECT s.id, 'School (bench)', 'school', 3, false, s.started_on, NULL
               FROM programmes_stagerecord s WHERE s.stage_type_id = %s AND s.status IN ('active', 'completed') AND s.id %% 4 <> 0""",
            [types["school"]],
        )
        cursor.execute(
            """INSERT INTO programmes_documentrequest (stage_id, document_type, status, requested_on, issued_on, number, note)
               SELECT s.id, 'passport', CASE WHEN s.status = 'completed' THEN 'issued' ELSE 'requested' END, s.started_on,
                      CASE WHEN s.status = 'completed' THEN s.completed_on END, '', ''
               FROM programmes_stagerecord s WHERE s.stage_type_id = %s AND s.status <> 'planned'""",
            [types["documents"]],
        )
        cursor.execute(
            """INSERT INTO programmes_accommodationstay (stage_id, centre, arrived_on, exited_on)
               SELECT s.id, 'Centre (bench)', s.started_on, s.completed_on
               FROM programmes_stagerecord s WHERE s.stage_type_id = %s AND s.status <> 'planned'""",
            [types["accommodation"]],
        )
    with connection.cursor() as cursor, step("analyze"):
        cursor.execute("ANALYZE")
    return programme


def outer_from(sql: str) -> str:
    """The query's FROM clause onwards, skipping subqueries in its select list."""
    sql = " ".join(sql.split())
    depth = 0
    for index, char in enumerate(sql):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and sql.startswith(" FROM ", index):
            return sql[index + 1 :]
    return sql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="Time the data already built by a previous run.")
    args = parser.parse_args()
    if args.reuse:
        from programmes.models import Programme

        programme = Programme.objects.get(code="bench")
    else:
        fresh_schema()
        programme = build(args.cases)

    from django.test.utils import CaptureQueriesContext

    from programmes import reports
    from programmes.models import StageRecord

    print(f"\nstage records: {StageRecord.objects.count():,}")
    period = reports.period_last_complete(programme, "weekly")
    timings = []
    query_times: list[list[float]] = []
    for run in range(RUNS):
        with CaptureQueriesContext(connection) as captured, step(f"report_numbers, run {run + 1}") as timer:
            numbers = reports.report_numbers(programme=programme, period=period)
        timings.append(timer.seconds)
        queries = len(captured.captured_queries)
        query_times.append([float(query["time"]) for query in captured.captured_queries])
    # Which query the time goes to: the median of each over the runs, in the order they run,
    # named by the tables of its own FROM (the select lists look alike).
    print("\nper query (median of the runs):")
    for index, query in enumerate(captured.captured_queries):
        seconds = statistics.median(run[index] for run in query_times)
        print(f"  {seconds * 1000:6.0f} ms  {outer_from(query['sql'])[:120]}")
    with step("chart (PNG) and CSV") as render:
        reports.report_chart(numbers)
        reports.report_csv(numbers)
    print(
        f"\nRESULT cases={args.cases:,} queries={queries} median={statistics.median(timings):.3f}s "
        f"best={min(timings):.3f}s chart_and_csv={render.seconds:.2f}s "
        f"active={numbers['totals']['active']:,} overdue={numbers['overdue']['total']:,}"
    )


if __name__ == "__main__":
    main()
