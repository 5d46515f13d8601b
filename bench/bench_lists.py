"""Benchmark: every API list, as every role, against hand-written SQL for the same answer.

Run on PostgreSQL with the demo data at 100,000 people:

    DATABASE_URL=postgres://USER@HOST:5432/rehab_bench python bench/bench_lists.py [--size 100000] [--runs 30]

It migrates the database and seeds the demo data (``seed_demo``) when there are
fewer people than asked for. Then, for every list of the router and each of the
demo's administrator, supervisor, caseworker and partner, it checks that the
API's first page of 100 (its ids, in order, and its count) is what a
hand-written query returns, and times, in every round one after the other (so
that load on the machine weighs on both alike):

- ``GET /api/v1/<list>/?page_size=100`` through the WSGI handler as from
  gunicorn (middleware, token authentication, scoping, pagination with its
  count, the read audit entry, serialisation, JSON), with DEBUG off;
- the hand-written SQL (the floor): the page's rows and the count as the API
  gives it (exact up to 10,000 rows, past that the planner's estimate), with the
  caller's programmes or agencies written in as constants.

It prints, for each list and role, the medians and p90 of both, the ratio of
the API to its floor and of a scoped role to the administrator on the same list,
and with ``--explain`` a summary of ``EXPLAIN (ANALYZE, BUFFERS)`` of each list's
main query (the page) as the caseworker and the partner.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time

from common import api_handler, demo_database_ready, get_environ
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from casework.models import ACTIVE_REFERRAL_STATUSES, Agency, Family, Person
from api.policies import EXACT_COUNT_LIMIT
from core.roles import agency_ids_for, programme_ids_for
from programmes.models import OPEN_STAGE_STATUSES, Programme, StageType
from programmes.selectors import AGENCY_STAGE_KINDS

PAGE_SIZE = 100
ROLES = {"administrator": "admin", "supervisor": "supervisor", "caseworker": "caseworker", "partner": "partner"}


def _list(values) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


# --- the hand-written scopes ------------------------------------------------------
# %(user)s, %(programmes)s, %(agencies)s, %(today)s, %(own_people)s and %(own_families)s
# are the caller's, read once.

STAFF_CASE = """{c}.archived_at IS NULL AND EXISTS (
    SELECT 1 FROM programmes_enrolment x WHERE x.case_id = {c}.id AND x.programme_id = ANY(%(programmes)s))"""
GRANTING = f"""EXISTS (
    SELECT 1 FROM casework_referral r JOIN casework_consent k ON k.id = r.consent_id
     WHERE r.case_id = {{case}} AND r.agency_id = ANY(%(agencies)s) AND r.status IN {_list(ACTIVE_REFERRAL_STATUSES)}
       AND k.given_on <= %(today)s AND (k.expires_on IS NULL OR k.expires_on >= %(today)s)
       AND (k.withdrawn_on IS NULL OR k.withdrawn_on > %(today)s) {{extra}})"""
# A partner's case: an accepted referral (a pending one shows the referral alone).
PARTNER_CASE = "{c}.archived_at IS NULL AND " + GRANTING.format(case="{c}.id", extra="AND r.status = 'accepted'")
# A partner's stage: its case's referral to the agency, accepted, covering the stage's
# type (the purposes' stage types, narrowed to the agency's kind: %(covers)s).
PARTNER_STAGE = GRANTING.format(
    case="e.case_id",
    extra="""AND r.status = 'accepted' AND (r.stage_id IS NULL OR r.stage_id = s.id)
       AND (r.agency_id, r.purpose, s.stage_type_id) IN (SELECT * FROM unnest(%(cover_agencies)s::int[],
            %(cover_purposes)s::text[], %(cover_types)s::int[]))
       AND EXISTS (SELECT 1 FROM casework_case rc WHERE rc.id = r.case_id AND rc.archived_at IS NULL)""",
)
STAFF_STAGE = """EXISTS (SELECT 1 FROM programmes_enrolment x WHERE x.case_id = e.case_id
    AND x.programme_id = ANY(%(programmes)s))
    AND EXISTS (SELECT 1 FROM casework_case sc WHERE sc.id = e.case_id AND sc.archived_at IS NULL)"""
OVERDUE = f"s.status IN {_list(OPEN_STAGE_STATUSES)} AND e.status = 'active' AND s.due_date < %(today)s"
NOTHING = "FALSE"


def _without_case(model, field: str, user) -> list[int]:
    with connection.cursor() as cursor:
        table = model._meta.db_table
        cursor.execute(
            f"SELECT r.id FROM {table} r WHERE r.created_by_id = %s"
            f" AND NOT EXISTS (SELECT 1 FROM casework_case c WHERE c.{field}_id = r.id)",
            [user.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def _scopes(admin="TRUE", staff=NOTHING, partner=NOTHING) -> dict[str, str]:
    return {"administrator": admin, "supervisor": staff, "caseworker": staff, "partner": partner}


#: Each list: its URL, FROM, WHERE per role, ORDER BY (the API's default ordering).
LISTS = {
    "cases": (
        "/api/v1/cases/",
        "casework_case c",
        _scopes(staff=STAFF_CASE.format(c="c"), partner=PARTNER_CASE.format(c="c")),
        "c.reference",
    ),
    "persons": (
        "/api/v1/persons/",
        "casework_person p",
        _scopes(
            admin="p.merged_into_id IS NULL",
            # One EXISTS over both ways a case shows a person (probed by index row by row),
            # and the caller's own records without a case, read once, as constants.
            staff=f"""p.merged_into_id IS NULL AND (
                EXISTS (SELECT 1 FROM casework_case c WHERE c.person_id = p.id AND {STAFF_CASE.format(c="c")}
                        UNION ALL
                        SELECT 1 FROM casework_familymembership m JOIN casework_case c ON c.family_id = m.family_id
                         WHERE m.person_id = p.id AND {STAFF_CASE.format(c="c")})
                OR p.id = ANY(%(own_people)s))""",
            partner=f"""p.merged_into_id IS NULL AND EXISTS (
                SELECT 1 FROM casework_case c WHERE c.person_id = p.id AND {PARTNER_CASE.format(c="c")})""",
        ),
        "p.family_name, p.given_name, p.id",
    ),
    "families": (
        "/api/v1/families/",
        "casework_family f",
        _scopes(
            staff=f"""EXISTS (SELECT 1 FROM casework_case c WHERE c.family_id = f.id AND {STAFF_CASE.format(c="c")})
                OR f.id = ANY(%(own_families)s)""",
        ),
        "f.reference",
    ),
    "enrolments": (
        "/api/v1/enrolments/",
        "programmes_enrolment e",
        _scopes(
            staff=STAFF_STAGE,
            partner=f"""EXISTS (SELECT 1 FROM programmes_stagerecord s WHERE s.enrolment_id = e.id AND {PARTNER_STAGE})""",
        ),
        "e.enrolled_on DESC, e.id",
    ),
    "stages": (
        "/api/v1/stages/",
        "programmes_stagerecord s JOIN programmes_enrolment e ON e.id = s.enrolment_id"
        " JOIN programmes_stagetype t ON t.id = s.stage_type_id",
        _scopes(staff=STAFF_STAGE, partner=PARTNER_STAGE),
        "e.enrolled_on DESC, e.id, t.position, s.id",
    ),
    "stages?overdue=true": (
        "/api/v1/stages/?overdue=true",
        "programmes_stagerecord s JOIN programmes_enrolment e ON e.id = s.enrolment_id"
        " JOIN programmes_stagetype t ON t.id = s.stage_type_id",
        _scopes(admin=OVERDUE, staff=f"{OVERDUE} AND {STAFF_STAGE}", partner=f"{OVERDUE} AND {PARTNER_STAGE}"),
        "e.enrolled_on DESC, e.id, t.position, s.id",
    ),
    "follow-ups": (
        "/api/v1/follow-ups/",
        "programmes_followup u JOIN programmes_stagerecord s ON s.id = u.stage_id"
        " JOIN programmes_enrolment e ON e.id = s.enrolment_id",
        _scopes(staff=STAFF_STAGE, partner=PARTNER_STAGE),
        "u.due_date, u.id",
    ),
    "referrals": (
        "/api/v1/referrals/",
        "casework_referral q",
        _scopes(
            staff=f"EXISTS (SELECT 1 FROM casework_case c WHERE c.id = q.case_id AND {STAFF_CASE.format(c='c')})",
            partner=f"""EXISTS (SELECT 1 FROM casework_case c WHERE c.id = q.case_id AND c.archived_at IS NULL)
                AND {GRANTING.format(case="q.case_id", extra="AND r.id = q.id")}""",
        ),
        "q.referred_on DESC, q.id DESC",
    ),
    "programmes": (
        "/api/v1/programmes/",
        "programmes_programme g",
        _scopes(staff="g.id = ANY(%(programmes)s)"),
        "g.name",
    ),
    "stage-types": (
        "/api/v1/stage-types/",
        "programmes_stagetype t JOIN programmes_programme g ON g.id = t.programme_id",
        _scopes(staff="t.programme_id = ANY(%(programmes)s)"),
        "g.name, t.position, t.code",
    ),
    "agencies": (
        "/api/v1/agencies/",
        "casework_agency a",
        _scopes(staff="TRUE", partner="a.id = ANY(%(agencies)s)"),
        "a.name",
    ),
}


def _row_alias(from_clause: str) -> str:
    first = from_clause.split(" JOIN ")[0].split()
    return first[1]


def floor_sql(name: str, role: str) -> tuple[str, str]:
    _url, from_clause, scopes, order = LISTS[name]
    where = scopes[role]
    alias = _row_alias(from_clause)
    page = f"SELECT {alias}.* FROM {from_clause} WHERE {where} ORDER BY {order} LIMIT {PAGE_SIZE}"
    # The API's count: exact up to EXACT_COUNT_LIMIT rows, the planner's estimate past it.
    count = f"SELECT count(*) FROM (SELECT 1 FROM {from_clause} WHERE {where} LIMIT {EXACT_COUNT_LIMIT + 1}) capped"
    estimate = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {from_clause} WHERE {where}"
    return page, count, estimate


def _covers(agency_ids: list[int]) -> tuple[list, list, list]:
    """(agency, purpose, stage type) triples a partner's accepted referrals cover."""
    triples = ([], [], [])
    for agency_id, kind in Agency.objects.filter(id__in=agency_ids).values_list("id", "kind"):
        kinds = AGENCY_STAGE_KINDS.get(kind)
        for stage_type_id, stage_kind, purposes in StageType.objects.values_list("id", "kind", "referral_purposes"):
            if kinds and stage_kind not in kinds:
                continue
            for purpose in purposes or ():
                triples[0].append(agency_id)
                triples[1].append(purpose)
                triples[2].append(stage_type_id)
    return triples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1] * 1000 if len(samples) > 1 else samples[0] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="People wanted in the database (default 100000).")
    parser.add_argument("--runs", type=int, default=30, help="Timed rounds (default 30).")
    parser.add_argument("--warm-up", type=int, default=3, help="Untimed rounds first (default 3).")
    parser.add_argument("--only", nargs="*", help="Only these lists (names as printed).")
    parser.add_argument("--explain", action="store_true", help="Summarise EXPLAIN (ANALYZE, BUFFERS) of each page.")
    args = parser.parse_args()

    server_version = demo_database_ready(args.size)
    handler = api_handler()
    users = {role: get_user_model().objects.get(username=username) for role, username in ROLES.items()}
    tokens = {role: AuthToken.objects.create(user) for role, user in users.items()}
    north = Programme.objects.get(code="north")
    today = north.local_today()
    params = {}
    for role, user in users.items():
        agencies = agency_ids_for(user)
        cover_agencies, cover_purposes, cover_types = _covers(agencies)
        params[role] = {
            "user": user.pk,
            "programmes": programme_ids_for(user),
            "agencies": agencies,
            "today": today,
            "cover_agencies": cover_agencies,
            "cover_purposes": cover_purposes,
            "cover_types": cover_types,
            # The people and families the caller recorded that no case refers to yet.
            "own_people": _without_case(Person, "person", user),
            "own_families": _without_case(Family, "family", user),
        }
    names = [name for name in LISTS if not args.only or name in args.only]

    def api_call(name: str, role: str) -> tuple[float, bytes]:
        url = LISTS[name][0]
        path, _, query = url.partition("?")
        statuses = []
        environ = get_environ(path, "&".join(filter(None, [query, f"page_size={PAGE_SIZE}"])), tokens[role][1])
        started = time.perf_counter()
        body = b"".join(handler(environ, lambda status, headers: statuses.append(status)))
        elapsed = time.perf_counter() - started
        assert statuses[0].startswith("200"), (name, role, statuses, body[:300])
        return elapsed, body

    def floor_call(name: str, role: str) -> tuple[float, list, int]:
        page, count, estimate = floor_sql(name, role)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(page, params[role])
            rows = cursor.fetchall()
            cursor.execute(count, params[role])
            total = cursor.fetchone()[0]
            if total > EXACT_COUNT_LIMIT:
                cursor.execute(estimate, params[role])
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                total = max(int(plan[0]["Plan"]["Plan Rows"]), total)
        return time.perf_counter() - started, rows, total

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    disagreements, query_counts = [], {}
    try:
        for name in names:
            for role in ROLES:
                _, body = api_call(name, role)
                answer = json.loads(body)
                _, rows, total = floor_call(name, role)
                ids = [result["id"] for result in answer["results"]]
                # Up to the limit both counts are exact; past it both are estimates above it.
                exact = total <= EXACT_COUNT_LIMIT
                counts_differ = answer["count"] != total if exact else answer["count"] <= EXACT_COUNT_LIMIT
                if ids != [row[0] for row in rows] or counts_differ:
                    disagreements.append(f"{name} as {role}: API count {answer['count']}, SQL {total}")
                with CaptureQueriesContext(connection) as queries:
                    api_call(name, role)
                query_counts[name, role] = len(queries)
        settings.DEBUG = False
        samples = {(name, role, side): [] for name in names for role in ROLES for side in ("api", "sql")}
        for round_number in range(args.warm_up + args.runs):
            for name in names:
                for role in ROLES:
                    api_elapsed = api_call(name, role)[0]
                    sql_elapsed = floor_call(name, role)[0]
                    if round_number >= args.warm_up:
                        samples[name, role, "api"].append(api_elapsed)
                        samples[name, role, "sql"].append(sql_elapsed)
        explained = explain_pages(names, tokens, api_call) if args.explain else []
    finally:
        for auth_token, _key in tokens.values():
            auth_token.delete()

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"PostgreSQL {server_version}, {os.cpu_count()} CPUs, load average at the end {load}")
    print(f"{args.runs} timed rounds after {args.warm_up} untimed; page of {PAGE_SIZE}; times in ms")
    print()
    print("| list | role | API median | API p90 | floor median | API / floor | role / administrator | queries |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        admin_median = median_ms(samples[name, "administrator", "api"])
        for role in ROLES:
            api = median_ms(samples[name, role, "api"])
            floor = median_ms(samples[name, role, "sql"])
            print(
                f"| {name} | {role} | {api:.1f} | {p90_ms(samples[name, role, 'api']):.1f} | {floor:.1f} "
                f"| {api / floor:.1f}× | {api / admin_median:.2f}× | {query_counts[name, role]} |"
            )
    if disagreements:
        print("\nThe API and the hand-written query disagree:\n  " + "\n  ".join(disagreements))
    for line in explained:
        print(line)


SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")
# The page's own statement (one row more when the count is an estimate), not the
# capped count (LIMIT 10001) nor a subquery's LIMIT 1.
PAGE_QUERY = re.compile(rf"LIMIT ({PAGE_SIZE}|{PAGE_SIZE + 1})$")


def explain_pages(names, tokens, api_call) -> list[str]:
    """For the caseworker and the partner: the page query's plan (the statement that
    reads the list's own rows with LIMIT), its time and the tables it scans whole."""
    lines = ["", "| list | role | page query | seq scans (table: rows) |", "|---|---|---|---|"]
    settings.DEBUG = True
    sizes = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, n_live_tup FROM pg_stat_user_tables")
        sizes = dict(cursor.fetchall())
    for name in names:
        for role in ("caseworker", "partner"):
            with CaptureQueriesContext(connection) as queries:
                api_call(name, role)
            pages = [query["sql"] for query in queries.captured_queries if PAGE_QUERY.search(query["sql"])]
            if not pages:
                lines.append(f"| {name} | {role} | (no page query) | |")
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + pages[0])
                plan = "\n".join(row[0] for row in cursor.fetchall())
            took = re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)
            scans = sorted(set(SEQ_SCAN.findall(plan)))
            listed = ", ".join(f"{table}: {sizes.get(table, '?')}" for table in scans) or "none"
            lines.append(f"| {name} | {role} | {took} ms | {listed} |")
    settings.DEBUG = False
    return lines


if __name__ == "__main__":
    main()
