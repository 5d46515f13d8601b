"""Benchmark: the API's case list (page of 100, with person, family and open stages)
against one hand-written SQL query that returns the same rows.

Run on PostgreSQL with at least 100,000 people:

    DATABASE_URL=postgres://USER@HOST:5432/rehab_bench python bench/bench_case_list.py [--size 100000] [--runs 50]

It seeds fictional demo data with ``seed_demo`` when there are fewer people
than asked for, then prints the median server time of
``GET /api/v1/cases/?page_size=100`` (as an administrator, through the whole
Django stack: middleware, authentication, scoping, serialisation, JSON), the
median of the hand-written query, and their ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from casework.models import Person  # noqa: E402

# The same rows as the API: the first 100 cases by reference, each with its person
# (names, identifiers), family and the open stages of its active enrolments.
HAND_WRITTEN_SQL = """
SELECT c.id, c.reference, c.status, c.risk_level, c.legal_status, c.arrival_date, c.opened_on,
       c.closed_on, c.operation_id, c.caseworker_id, c.created_at, c.updated_at,
       p.id, p.given_name, p.patronymic, p.family_name, p.sex, p.date_of_birth,
       p.date_of_birth_estimated, p.place_of_birth, p.nationality, p.languages, p.created_at, p.updated_at,
       f.id, f.reference, f.label,
       (SELECT coalesce(json_agg(json_build_object('full_name', n.full_name, 'script', n.script, 'kind', n.kind)
                                 ORDER BY n.kind, n.script, n.id), '[]')
          FROM casework_personname n WHERE n.person_id = p.id) AS names,
       (SELECT coalesce(json_agg(json_build_object('kind', i.kind, 'value', i.value,
                                                   'issuing_country', i.issuing_country)), '[]')
          FROM casework_personidentifier i WHERE i.person_id = p.id) AS identifiers,
       (SELECT coalesce(json_agg(json_build_object(
                   'id', s.id, 'status', s.status, 'planned_start', s.planned_start, 'due_date', s.due_date,
                   'started_on', s.started_on, 'stage_type', json_build_object(
                       'id', t.id, 'code', t.code, 'name', t.name, 'kind', t.kind))
                   ORDER BY t.position, s.id), '[]')
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


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="People wanted in the database (default 100000).")
    parser.add_argument("--runs", type=int, default=50, help="Timed runs of each side (default 50).")
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("Run this on PostgreSQL: set DATABASE_URL.")
    if Person.objects.count() < args.size:
        print(f"Seeding about {args.size} returnees (fictional demo data); this takes a while.", flush=True)
        call_command("seed_demo", size=args.size, reset=True, verbosity=0)
    with connection.cursor() as cursor:
        # Fresh bulk-loaded tables have no visibility map yet; production tables do.
        cursor.execute("VACUUM ANALYZE")

    settings.ALLOWED_HOSTS = ["*"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute", "anonymous": "1000000/minute"},
    }
    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    _, token = AuthToken.objects.create(admin)
    # Server time: the request goes through the WSGI handler as from gunicorn
    # (middleware, authentication, scoping, serialisation, JSON), body consumed.
    handler = WSGIHandler()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/cases/",
        "QUERY_STRING": "page_size=100",
        "SERVER_NAME": "bench.invalid",
        "SERVER_PORT": "80",
        "HTTP_HOST": "bench.invalid",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    url = "/api/v1/cases/?page_size=100"

    def api_once() -> float:
        statuses = []
        started = time.perf_counter()
        body = b"".join(handler(dict(environ), lambda status, headers: statuses.append(status)))
        elapsed = time.perf_counter() - started
        assert statuses[0].startswith("200") and len(json.loads(body)["results"]) == 100, statuses
        return elapsed

    def sql_once() -> float:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(HAND_WRITTEN_SQL)
            rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
        assert len(rows) == 100
        return elapsed

    # Keep one connection for the whole run, as CONN_MAX_AGE does in production.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    for _ in range(5):  # warm caches and connections on both sides
        api_once()
        sql_once()
    with CaptureQueriesContext(connection) as queries:
        api_once()
    api_samples = [api_once() for _ in range(args.runs)]
    sql_samples = [sql_once() for _ in range(args.runs)]
    AuthToken.objects.filter(user=admin).delete()

    api, sql = median_ms(api_samples), median_ms(sql_samples)
    print(f"people: {Person.objects.count()}, cases: {connection.cursor().execute('SELECT count(*) FROM casework_case').fetchone()[0]}")
    print(f"API GET {url}: median {api:.1f} ms over {args.runs} runs, {len(queries)} SQL queries")
    print(f"hand-written SQL (one query): median {sql:.1f} ms")
    print(f"ratio: {api / sql:.2f}")


if __name__ == "__main__":
    main()
