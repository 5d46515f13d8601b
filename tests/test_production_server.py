"""The web process as production runs it: gunicorn with config/gunicorn.conf.py and several
workers. Throttle counters are shared by every worker (the database cache, or Redis when
REDIS_URL is set), and the access log leaves query strings out."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ANONYMOUS_LIMIT = 30  # the default anonymous rate, 30/minute
SENTINEL = "Sentinelsearchname"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, headers={"Connection": "close", **(headers or {})})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _environment(tmp_path: Path, *, redis_url: str | None) -> dict:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "API_THROTTLE_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    environment.update(
        DJANGO_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        environment["REDIS_URL"] = redis_url
    return environment


@contextlib.contextmanager
def gunicorn(tmp_path: Path, *, redis_url: str | None = None):
    """gunicorn with the production config and 3 workers on a free port; yields (base URL, log file)."""
    environment = _environment(tmp_path, redis_url=redis_url)
    # The database cache's table, as `migrate` makes it (config.apps).
    subprocess.run(
        [sys.executable, "manage.py", "createcachetable"], cwd=ROOT, env=environment, check=True, capture_output=True
    )
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--config",
                "config/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "3",
            ],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if _get(base + "/healthz") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start:\n" + log.read_text()
            time.sleep(0.3)
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _anonymous_requests_let_through(base: str, count: int = 100) -> int:
    codes = [_get(base + "/api/v1/cases/") for _ in range(count)]
    assert set(codes) <= {401, 429}, codes
    return sum(code != 429 for code in codes)


def test_anonymous_throttle_is_shared_by_every_worker(tmp_path):
    with gunicorn(tmp_path) as (base, _):
        assert _anonymous_requests_let_through(base) == ANONYMOUS_LIMIT


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_anonymous_throttle_is_shared_by_every_worker_through_redis(tmp_path):
    import redis

    from django.conf import settings

    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    for key in client.scan_iter("*throttle_anonymous_*"):
        client.delete(key)
    with gunicorn(tmp_path, redis_url=os.environ["REDIS_URL"]) as (base, _):
        assert _anonymous_requests_let_through(base) == ANONYMOUS_LIMIT


def test_access_log_leaves_query_strings_out(tmp_path):
    with gunicorn(tmp_path) as (base, log):
        url = f"{base}/admin/casework/person/?q={SENTINEL}"
        assert _get(url, headers={"Referer": url}) in (200, 302)
        deadline = time.monotonic() + 10
        while "/admin/casework/person/" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    text = log.read_text()
    assert '"GET /admin/casework/person/ HTTP/1.1" 302' in text, text
    assert SENTINEL not in text


def test_lockout_and_throttle_state_is_never_per_process(settings):
    # Sign-in lockouts are database rows; throttle counters live in Redis or the database.
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"
    assert settings.CACHES["default"]["BACKEND"] in (
        "django.core.cache.backends.redis.RedisCache",
        "django.core.cache.backends.db.DatabaseCache",
    )
