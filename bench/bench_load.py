"""Load test: the caseworker's and the partner's case list and case detail under gunicorn,
at 8 and 32 concurrent clients, against ``/healthz`` in the same run.

Run on PostgreSQL with the demo data (seeded when there are fewer people than asked for):

    DATABASE_URL=postgres://USER@HOST:5432/rehab_bench python bench/bench_load.py [--size 100000]

It starts gunicorn on a free loopback port (``--workers``, 4 by default) serving the
project's own WSGI handler (``bench/load_app.py``: every middleware, token
authentication, scoping, pagination with its count, the read audit entry, DEBUG off,
throttles raised), then drives it with Debian's ``wrk`` (``apt-get install wrk``), one
request kind at a time, for ``--seconds`` after a one-second warm-up. It prints, per
request and number of clients, requests a second, the median and 99th percentile of the
latency, and the ratio of the requests a second to ``/healthz`` at the same number of
clients. Any answer other than 200 fails the run (a 404 or a 429 would look fast).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import demo_database_ready
from django.contrib.auth import get_user_model
from knox.models import AuthToken

from casework.selectors import case_visible_to

ROOT = Path(__file__).resolve().parent.parent
ROLES = {"caseworker": "caseworker", "partner": "partner"}
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNIT_MS[unit]


def parse_wrk(output: str) -> dict:
    """Requests a second, p50 and p99 (ms), and the count of answers other than 2xx/3xx
    and of socket errors, from ``wrk --latency``'s report."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, flags=re.MULTILINE))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, flags=re.MULTILINE)
    if rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError("wrk printed no report:\n" + output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rate": float(rate.group(1)),
        "p50": _milliseconds(percentiles["50"]),
        "p99": _milliseconds(percentiles["99"]),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def _wrk(url: str, token: str | None, *, clients: int, seconds: int) -> dict:
    command = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if token:
        command += ["-H", f"Authorization: Token {token}"]
    output = subprocess.run(command + [url], check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


def _status(url: str, token: str | None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Gunicorn:
    """gunicorn serving ``bench/load_app.py`` on a free loopback port."""

    def __init__(self, workers: int):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "DJANGO_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "load_app:application",
                "--pythonpath",
                f"{ROOT / 'bench'},{ROOT}",
                "--chdir",
                str(ROOT),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            env=environment,
        )

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn stopped before answering")
            try:
                if _status(f"{self.base}/healthz", None) == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def requests_to_time(page_size: int) -> list[tuple[str, str, str | None]]:
    """(label, path, token) of every request kind: /healthz, then each role's case list
    and the detail of a case it sees (the first of its list)."""
    kinds = [("/healthz", "/healthz", None)]
    for role, username in ROLES.items():
        user = get_user_model().objects.get(username=username)
        token = AuthToken.objects.create(user)[1]
        case = case_visible_to(user).order_by("pk").first()
        if case is None:
            raise RuntimeError(f"the demo's {role} sees no case")
        kinds.append((f"{role}: case list", f"/api/v1/cases/?page_size={page_size}", token))
        kinds.append((f"{role}: case detail", f"/api/v1/cases/{case.pk}/", token))
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="People wanted in the database (default 100000).")
    parser.add_argument("--seconds", type=int, default=20, help="Timed seconds per request kind (default 20).")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32], help="Concurrent clients (default 8 32).")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4).")
    parser.add_argument("--page-size", type=int, default=100, help="Page size of the case list (default 100).")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian: apt-get install wrk).")

    server_version = demo_database_ready(args.size)
    kinds = requests_to_time(args.page_size)
    rows = []
    with Gunicorn(args.workers) as server:
        for label, path, token in kinds:
            status = _status(server.base + path, token)
            if status != 200:
                sys.exit(f"{label}: {path} answered {status}, not 200")
        for clients in args.clients:
            for label, path, token in kinds:
                print(f"{label}, {clients} clients ...", end="", flush=True)
                _wrk(server.base + path, token, clients=clients, seconds=1)
                result = _wrk(server.base + path, token, clients=clients, seconds=args.seconds)
                if result["non_2xx"] or result["socket_errors"]:
                    sys.exit(f" {result['non_2xx']} answers not 2xx, {result['socket_errors']} socket errors")
                print(f" {result['rate']:.1f} req/s", flush=True)
                rows.append((label, clients, result))

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nPostgreSQL {server_version}, {os.cpu_count()} CPUs, load average at the end {load}")
    print(f"gunicorn, {args.workers} workers; wrk, {args.seconds:g} s per row after 1 s of warm-up\n")
    print("| request | clients | requests/s | p50 ms | p99 ms | requests/s against /healthz |")
    print("|---|---|---|---|---|---|")
    health = {clients: result["rate"] for label, clients, result in rows if label == "/healthz"}
    for label, clients, result in rows:
        ratio = result["rate"] / health[clients]
        print(
            f"| {label} | {clients} | {result['rate']:.1f} | {result['p50']:.1f} | {result['p99']:.1f} | {ratio:.3f} |"
        )
    print(f"RESULT rows={len(rows)}")


if __name__ == "__main__":
    main()
