"""Settings come from the environment and refuse unsafe production values."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(**env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_the_default_secret_key():
    result = start(DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


PRODUCTION_KEYS = {
    "FIELD_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1zaGFwZWQta2V5LWZvci10ZXN0cyE=",
    "IDENTIFIER_LOOKUP_KEY": "l" * 40,
}


def test_production_starts_with_real_keys():
    result = start(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 50, **PRODUCTION_KEYS)
    assert result.returncode == 0, result.stderr


def test_production_refuses_the_development_data_protection_keys():
    result = start(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="k" * 50)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY and IDENTIFIER_LOOKUP_KEY must be set" in result.stderr


def test_unknown_time_zone_is_refused():
    result = start(TIME_ZONE="Mars/Olympus")
    assert result.returncode != 0
    assert "TIME_ZONE" in result.stderr


def test_the_cache_never_shares_the_brokers_redis_database():
    from config.settings import _next_redis_database

    assert _next_redis_database("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/1"
    assert _next_redis_database("redis://:secret@cache:6379") == "redis://:secret@cache:6379/1"
    assert _next_redis_database("redis://127.0.0.1:6379/15") == "redis://127.0.0.1:6379/0"
