"""Benchmark: the API's case list (page of 100, with person, family and open stages)
against one hand-written SQL query that returns the same answer.

Run on PostgreSQL with at least 100,000 people:

    DATABASE_URL=postgres://USER@HOST:5432/rehab_bench python bench/bench_case_list.py [--size 100000] [--runs 200]

It migrates the database, seeds fictional demo data with ``seed_demo`` when
there are fewer people than asked for (minutes for 100,000; later runs reuse
them), checks that the API and the hand-written query return the same rows,
then times, in turn in every round (so that load on the machine weighs on
all of them alike):

- ``GET /api/v1/cases/?page_size=100`` as an administrator, server side: the
  request goes through the WSGI handler as from gunicorn (middleware, token
  authentication, throttling, scoping, pagination with its count, the read
  audit entry, serialisation, JSON), with DEBUG off as in production;
- the hand-written query returning the same page and the total count, which
  the API's answer carries too (``count``, and ``next`` derived from it);
- the same query without the count (the page's rows alone), and the count alone.

It prints their medians and the ratios of the API to both queries.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time

from common import api_handler, demo_database_ready, get_environ
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken

from casework.models import SENSITIVE_NAME_KINDS, Case, Person, PersonIdentifier
from programmes.models import OPEN_STAGE_STATUSES

PAGE_SIZE = 100

# The API's page: the first 100 cases by reference (the default ordering), each with
# every column the API prints of the case, its person (with names and identifiers)
# and its family, and the open stages of its active enrolments (newest enrolment
# first, then the stage plan's order). Names, identifiers and stages come as JSON
# arrays, in the API's order. {total} is where the total count goes, or nothing.
PAGE_SQL = """
SELECT {total}
       c.id, c.reference, c.status, c.risk_level, c.legal_status, c.arrival_date, c.opened_on,
       c.closed_on, c.operation_id, c.caseworker_id, c.created_at, c.updated_at,
       p.id AS person_id, p.given_name, p.patronymic, p.family_name, p.sex, p.date_of_birth,
       p.date_of_birth_estimated, p.place_of_birth, p.nationality, p.languages,
       p.created_at AS person_created_at, p.updated_at AS person_updated_at,
       f.id AS family_id, f.reference AS family_reference, f.label AS family_label,
       (SELECT coalesce(json_agg(json_build_object('full_name', n.full_name, 'script', n.script, 'kind', n.kind)
                                 ORDER BY n.kind, n.script, n.id), '[]')
          FROM casework_personname n WHERE n.person_id = p.id) AS names,
       (SELECT coalesce(json_agg(json_build_object('kind', i.kind, 'value', i.value,
                                                   'issuing_country', i.issuing_country)
                                 ORDER BY i.kind, i.id), '[]')
          FROM casework_personidentifier i WHERE i.person_id = p.id) AS identifiers,
       (SELECT coalesce(json_agg(json_build_object(
                   'id', s.id, 'status', s.status, 'planned_start', s.planned_start, 'due_date', s.due_date,
                   'started_on', s.started_on, 'stage_type', json_build_object(
                       'id', t.id, 'code', t.code, 'name', t.name, 'kind', t.kind))
                   ORDER BY e.enrolled_on DESC, e.id, t.position, s.id), '[]')
          FROM programmes_stagerecord s
          JOIN programmes_enrolment e ON e.id = s.enrolment_id AND e.status = 'active'
          JOIN programmes_stagetype t ON t.id = s.stage_type_id
         WHERE e.case_id = c.id AND s.status IN ('planned', 'active', 'blocked')) AS current_stages
  FROM casework_case c
  JOIN casework_person p ON p.id = c.person_id
  LEFT JOIN casework_family f ON f.id = c.family_id
 ORDER BY c.reference
 LIMIT 100
"""
# An uncorrelated subquery: PostgreSQL counts once, not once per row.
WITH_COUNT_SQL = PAGE_SQL.format(total="(SELECT count(*) FROM casework_case) AS total,")
ROWS_ONLY_SQL = PAGE_SQL.format(total="")
COUNT_SQL = "SELECT count(*) FROM casework_case"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1] * 1000


def _iso(day):
    return None if day is None else day.isoformat()


def _instant(text):
    return None if text is None else datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_same_answer(api: dict, rows: list[dict]) -> None:
    """Exits unless the API's page and the hand-written query's rows say the same."""
    decrypt = PersonIdentifier._meta.get_field("value").to_python
    today = timezone.localdate()
    problems = []
    if api["count"] != rows[0]["total"]:
        problems.append(f"count: API {api['count']}, SQL {rows[0]['total']}")
    if [case["id"] for case in api["results"]] != [row["id"] for row in rows]:
        problems.append("not the same cases in the same order")
    for case, row in zip(api["results"], rows):
        person, family = case["person"], case["family"]
        names = row["names"]
        expected = {
            "reference": row["reference"],
            "status": row["status"],
            "risk_level": row["risk_level"],
            "legal_status": row["legal_status"],
            "arrival_date": _iso(row["arrival_date"]),
            "opened_on": _iso(row["opened_on"]),
            "closed_on": _iso(row["closed_on"]),
            "operation": row["operation_id"],
            "caseworker": row["caseworker_id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "person.id": row["person_id"],
            "person.given_name": row["given_name"],
            "person.patronymic": row["patronymic"],
            "person.family_name": row["family_name"],
            "person.sex": row["sex"],
            "person.date_of_birth": _iso(row["date_of_birth"]),
            "person.date_of_birth_estimated": row["date_of_birth_estimated"],
            "person.place_of_birth": row["place_of_birth"],
            "person.nationality": row["nationality"],
            # Django has psycopg hand jsonb over as text and decodes it itself.
            "person.languages": json.loads(row["languages"]),
            "person.created_at": row["person_created_at"],
            "person.updated_at": row["person_updated_at"],
            "person.names": [n for n in names if n["kind"] not in SENSITIVE_NAME_KINDS],
            "person.former_names": [n for n in names if n["kind"] in SENSITIVE_NAME_KINDS],
            "person.identifiers": [{**i, "value": decrypt(i["value"])} for i in row["identifiers"]],
            "family": None
            if row["family_id"] is None
            else {"id": row["family_id"], "reference": row["family_reference"], "label": row["family_label"]},
            "current_stages": [
                {**s, "is_overdue": s["status"] in OPEN_STAGE_STATUSES and s["due_date"] < today.isoformat()}
                for s in row["current_stages"]
            ],
        }
        got = {
            **{key: case[key] for key in expected if "." not in key},
            **{key: person[key.split(".", 1)[1]] for key in expected if key.startswith("person.")},
            "created_at": _instant(case["created_at"]),
            "updated_at": _instant(case["updated_at"]),
            "person.created_at": _instant(person["created_at"]),
            "person.updated_at": _instant(person["updated_at"]),
            "family": family,
        }
        for key, value in expected.items():
            if got[key] != value:
                problems.append(f"case {row['id']} {key}: API {got[key]!r}, SQL {value!r}")
    if problems:
        sys.exit("The API and the hand-written query disagree:\n  " + "\n  ".join(problems[:20]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="People wanted in the database (default 100000).")
    parser.add_argument("--runs", type=int, default=200, help="Timed rounds (default 200).")
    parser.add_argument("--warm-up", type=int, default=20, help="Untimed rounds first (default 20).")
    args = parser.parse_args()

    server_version = demo_database_ready(args.size)
    handler = api_handler()
    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    auth_token, token = AuthToken.objects.create(admin)
    environ = get_environ("/api/v1/cases/", f"page_size={PAGE_SIZE}", token)
    url = f"/api/v1/cases/?page_size={PAGE_SIZE}"

    def api_call() -> tuple[float, bytes]:
        statuses = []
        started = time.perf_counter()
        body = b"".join(handler(dict(environ), lambda status, headers: statuses.append(status)))
        elapsed = time.perf_counter() - started
        assert statuses[0].startswith("200"), statuses
        return elapsed, body

    def sql_call(sql: str) -> tuple[float, list[tuple], list[str]]:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
            elapsed = time.perf_counter() - started
            columns = [column.name for column in cursor.description]
        return elapsed, rows, columns

    # Keep one connection for the whole run, as CONN_MAX_AGE does in production.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        _, body = api_call()
        _, rows, columns = sql_call(WITH_COUNT_SQL)
        check_same_answer(json.loads(body), [dict(zip(columns, row)) for row in rows])
        with CaptureQueriesContext(connection) as queries:
            api_call()
        # Counted now: the next request empties Django's query log.
        query_count = len(queries)
        # Production runs with DEBUG off: no query log on either side.
        settings.DEBUG = False
        samples = {"api": [], "with_count": [], "rows_only": [], "count": []}
        for round_number in range(args.warm_up + args.runs):
            timings = {
                "api": api_call()[0],
                "with_count": sql_call(WITH_COUNT_SQL)[0],
                "rows_only": sql_call(ROWS_ONLY_SQL)[0],
                "count": sql_call(COUNT_SQL)[0],
            }
            if round_number >= args.warm_up:
                for key, elapsed in timings.items():
                    samples[key].append(elapsed)
    finally:
        auth_token.delete()

    api, with_count, rows_only, count = (median_ms(samples[key]) for key in samples)
    # Other work on the machine slows the API (CPU-bound) more than the query.
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"PostgreSQL {server_version}, {os.cpu_count()} CPUs, load average at the end {load}")
    print(
        f"people: {Person.objects.count()}, cases: {Case.objects.count()}; "
        f"{args.runs} timed rounds after {args.warm_up} untimed"
    )
    print(
        f"API GET {url} as an administrator: median {api:.1f} ms (p90 {p90_ms(samples['api']):.1f} ms), "
        f"{query_count} SQL queries"
    )
    print(f"hand-written SQL, page and total count (the API's answer): median {with_count:.1f} ms")
    print(f"hand-written SQL, page rows only: median {rows_only:.1f} ms (the count alone: {count:.1f} ms)")
    print(f"ratio API / hand-written page and count: {api / with_count:.2f}")
    print(f"ratio API / hand-written page rows only: {api / rows_only:.2f}")


if __name__ == "__main__":
    main()
