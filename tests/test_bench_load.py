"""The load test (bench/bench_load.py) runs, at a small size and for a second a row, against
gunicorn and Debian's wrk on a database of its own: it cannot rot unseen. Its reading of
wrk's report is checked on a report as wrk prints it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.test_production_backup import SERVER, admin_sql, database_url

ROOT = Path(__file__).resolve().parent.parent

WRK_REPORT = """Running 2s test @ http://127.0.0.1:40000/api/v1/cases/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    85.30ms   20.10ms 420.50ms   90.00%
    Req/Sec    23.10      6.20    40.00     70.00%
  Latency Distribution
     50%   81.30ms
     75%   90.00ms
     90%  120.00ms
     99%    1.42s
  92 requests in 2.00s, 1.20MB read
  Socket errors: connect 0, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:     46.61
Transfer/sec:    612.00KB
"""


@pytest.fixture
def bench_load(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    sys.modules.pop("bench_load", None)
    import bench_load

    return bench_load


def test_the_report_of_wrk_is_read_with_its_units_and_its_errors(bench_load):
    result = bench_load.parse_wrk(WRK_REPORT)
    assert result == {"rate": 46.61, "p50": 81.3, "p99": 1420.0, "non_2xx": 5, "socket_errors": 3}
    clean = WRK_REPORT.replace("  Non-2xx or 3xx responses: 5\n", "").replace("timeout 3", "timeout 0")
    assert bench_load.parse_wrk(clean)["non_2xx"] == bench_load.parse_wrk(clean)["socket_errors"] == 0
    assert bench_load.parse_wrk(clean.replace("50%   81.30ms", "50%  640.00us"))["p50"] == 0.64
    with pytest.raises(RuntimeError):
        bench_load.parse_wrk("unable to connect to 127.0.0.1:40000 Connection refused")


def test_the_load_test_serves_every_request_kind_under_gunicorn(tmp_path):
    if SERVER["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the load test runs on PostgreSQL (set DATABASE_URL)")
    if shutil.which("wrk") is None:
        if os.environ.get("REQUIRE_REAL_SERVICES") == "1":
            pytest.fail("wrk is not installed (.ci/run installs Debian's wrk)")
        pytest.skip("wrk is not installed")
    name = f"rehab_load_test_{uuid.uuid4().hex[:10]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        environment = {
            **{key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")},
            "DATABASE_URL": database_url(name),
            "DJANGO_VAR_DIR": str(tmp_path / "var"),
        }
        finished = subprocess.run(
            [
                sys.executable,
                "bench/bench_load.py",
                "--size",
                "20",
                "--seconds",
                "1",
                "--clients",
                "2",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    table = [line for line in finished.stdout.splitlines() if line.startswith("| ") and "ms |" not in line]
    labels = [line.split(" | ")[0].lstrip("| ") for line in table]
    assert labels == [
        "/healthz",
        "caseworker: case list",
        "caseworker: case detail",
        "partner: case list",
        "partner: case detail",
    ]
    health_row = table[0].split(" | ")
    assert health_row[-1].rstrip(" |") == "1.000" and float(health_row[2]) > 0
    assert "RESULT rows=5" in finished.stdout
