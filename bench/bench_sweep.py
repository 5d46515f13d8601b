"""Benchmark: the reminder sweep over 1,000,000 follow-ups on PostgreSQL.

Usage (a throw-away database; it is dropped and re-created):

    createdb -h 127.0.0.1 -U postgres rehab_bench   # once
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rehab_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/bench_sweep.py [--follow-ups 1000000]

It builds 100,000 cases with an active psychological-care stage each and ten
follow-ups per stage (most done, some open, due dates spread over two years),
then times, for today:
- finding what is due (the deadline query of ``reminders_materialize``) and
  creating the outbox rows;
- claiming them with SELECT ... FOR UPDATE SKIP LOCKED and enqueueing one send
  task per row on the broker after commit;
and prints the query plan of the deadline query.
"""

from __future__ import annotations

import argparse
import datetime
import os

from common import bench_programme, fresh_schema, step
from django.db import connection


def build(follow_ups: int) -> None:
    from casework.models import Person

    stages = max(follow_ups // 10, 1)
    programme, worker = bench_programme()
    stage_type_id = programme.stage_types.get(code="psychological").pk
    today = programme.local_today()
    with connection.cursor() as cursor, step(f"insert {stages:,} persons, cases, enrolments and stages"):
        cursor.execute(
            """INSERT INTO casework_person (given_name, family_name, patronymic, sex, date_of_birth,
                   date_of_birth_estimated, place_of_birth, nationality, languages, search_key,
                   phone, interpreter_needed, interpreter_language, created_at, updated_at)
               SELECT 'Benchgiven' || g, 'Benchsample', '', CASE WHEN g %% 2 = 0 THEN 'female' ELSE 'male' END,
                      DATE '2000-01-01' + (g %% 7000), false, '', 'KZ', '[]'::jsonb,
                      'benchgiven' || g || ' benchsample', %s, false, '', now(), now()
               FROM generate_series(1, %s) g""",
            # An empty phone as the model stores it (encrypted).
            [Person._meta.get_field("phone").get_db_prep_save("", connection), stages],
        )
        cursor.execute(
            """INSERT INTO casework_case (reference, person_id, caseworker_id, status, risk_level, legal_status,
                   arrival_date, opened_on, created_at, updated_at)
               SELECT 'B-' || p.id, p.id, %s, 'open', 'low', 'none', %s::date - 400, %s::date - 400, now(), now()
               FROM casework_person p""",
            [worker.pk, today, today],
        )
        cursor.execute(
            """INSERT INTO programmes_enrolment (case_id, programme_id, status, enrolled_on, created_at)
               SELECT c.id, %s, 'active', c.arrival_date, now() FROM casework_case c""",
            [programme.pk],
        )
        cursor.execute(
            """INSERT INTO programmes_stagerecord (enrolment_id, stage_type_id, status, planned_start, due_date,
                   started_on, responsible_user_id, outcome, status_reason, version, updated_at)
               SELECT e.id, %s, 'active', e.enrolled_on, %s::date + 300, e.enrolled_on, %s, '', '', 1, now()
               FROM programmes_enrolment e""",
            [stage_type_id, today, worker.pk],
        )
    with connection.cursor() as cursor, step(f"insert {follow_ups:,} follow-ups"):
        # Ten per stage, due every 14 days around today; open only in the last few weeks.
        cursor.execute(
            """INSERT INTO programmes_followup (stage_id, kind, due_date, assignee_id, done_on, outcome,
                   cancelled_on, created_at, updated_at)
               SELECT s.id, 'session', d.due, %s,
                      CASE WHEN d.due < %s::date - 30 OR (s.id + d.n) %% 3 = 0 THEN d.due END,
                      CASE WHEN d.due < %s::date - 30 OR (s.id + d.n) %% 3 = 0 THEN 'Held (bench).' ELSE '' END,
                      NULL, now(), now()
               FROM programmes_stagerecord s
               CROSS JOIN LATERAL (
                   SELECT n, %s::date - 120 + ((s.id * 7 + n * 14) %% 150)::int AS due FROM generate_series(1, 10) n
               ) d
               LIMIT %s""",
            [worker.pk, today, today, today, follow_ups],
        )
    with connection.cursor() as cursor, step("analyze"):
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--follow-ups", type=int, default=1_000_000)
    args = parser.parse_args()
    fresh_schema()
    build(args.follow_ups)
    measure()
    import redis as redis_client
    from django.conf import settings

    if settings.REDIS_URL:
        redis_client.Redis.from_url(settings.REDIS_URL).delete(os.environ["CELERY_TASK_DEFAULT_QUEUE"])


def measure() -> dict:
    """Times the sweep over what ``build`` inserted; prints and returns the figures."""
    from notifications.delivery import notifications_claim
    from notifications.models import Notification
    from programmes import reminders
    from programmes.models import FollowUp, Programme

    programme = Programme.objects.get(code="bench")
    today = programme.local_today()
    print(
        f"\nfollow-ups: {FollowUp.objects.count():,}, open: {FollowUp.objects.filter(done_on__isnull=True).count():,}"
    )

    with step("find what is due (deadline queries, both kinds)") as find:
        deadlines = list(reminders._deadlines(programme, *reminders._window(programme, today)))
    with step("materialise outbox rows (find + insert, idempotent)") as materialise:
        due = reminders.reminders_materialize()
    with step("materialise again (nothing new)") as again:
        reminders.reminders_materialize()
    with step(f"claim {Notification.objects.count():,} rows (SKIP LOCKED) and enqueue their sends") as claim:
        claimed = 0
        while True:
            ids = notifications_claim(limit=500)
            if not ids:
                break
            claimed += len(ids)

    limits_sql, params = (
        FollowUp.objects.filter(
            done_on__isnull=True,
            cancelled_on__isnull=True,
            due_date__gte=today - datetime.timedelta(days=15),
            due_date__lte=today + datetime.timedelta(days=2),
            stage__enrolment__programme=programme,
            stage__enrolment__status="active",
        )
        .values_list("id", "due_date")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF) " + limits_sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print("\nQuery plan of the follow-up deadline query:\n" + plan)
    print(
        f"\nRESULT deadlines={len(deadlines):,} reminders_due={due:,} claimed={claimed:,} "
        f"find={find.seconds:.2f}s materialise={materialise.seconds:.2f}s repeat={again.seconds:.2f}s "
        f"claim_and_enqueue={claim.seconds:.2f}s"
    )
    return {"deadlines": len(deadlines), "reminders_due": due, "claimed": claimed}


if __name__ == "__main__":
    main()
