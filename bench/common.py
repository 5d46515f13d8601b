"""Shared set-up for the benchmark scripts: Django on the DATABASE_URL database, a timer, a fresh schema."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-{uuid.uuid4().hex[:8]}")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


class step:
    """Prints what runs and how long it took; ``.seconds`` afterwards."""

    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        print(f"{self.label} ...", end="", flush=True)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        print(f" {self.seconds:.2f} s", flush=True)


def fresh_schema() -> None:
    """Drop everything in the benchmark database and migrate it again."""
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a throw-away PostgreSQL database: the benchmarks are about PostgreSQL.")
    with step("reset schema and migrate"):
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        call_command("migrate", verbosity=0)


def bench_programme(code: str = "bench"):
    """A programme with the standard catalogue, a caseworker and a supervisor."""
    from django.contrib.auth import get_user_model

    from programmes.models import Programme, ProgrammeMembership
    from programmes.services import stage_catalogue_install

    User = get_user_model()
    worker = User.objects.create(username="bench-caseworker", email="cw@bench.rehab.example")
    boss = User.objects.create(username="bench-supervisor", email="sv@bench.rehab.example")
    programme = Programme.objects.create(code=code, name="Bench programme", country="KZ", time_zone="Asia/Almaty")
    stage_catalogue_install(programme=programme)
    ProgrammeMembership.objects.create(programme=programme, user=boss, role="supervisor")
    return programme, worker


def demo_database_ready(size: int) -> str:
    """Migrate, seed the demo data when there are fewer than ``size`` people, vacuum;
    the server's version."""
    from casework.models import Person

    if connection.vendor != "postgresql":
        sys.exit("Run this on PostgreSQL: set DATABASE_URL.")
    call_command("migrate", verbosity=0)
    if Person.objects.count() < size:
        print(f"Seeding about {size} returnees (fictional demo data); this takes a while.", flush=True)
        call_command("seed_demo", size=size, reset=True, verbosity=0)
    with connection.cursor() as cursor:
        # Fresh bulk-loaded tables have no visibility map yet; production tables do.
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def api_handler():
    """The WSGI handler as gunicorn runs it, with the throttles out of the benchmark's way."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from rest_framework.settings import api_settings

    settings.ALLOWED_HOSTS = ["*"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute", "anonymous": "1000000/minute"},
    }
    api_settings.reload()
    return WSGIHandler()


def get_environ(path: str, query: str, token: str) -> dict:
    """A token-authenticated GET, as gunicorn hands it to the handler."""
    import io

    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "bench.invalid",
        "SERVER_PORT": "80",
        "HTTP_HOST": "bench.invalid",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
