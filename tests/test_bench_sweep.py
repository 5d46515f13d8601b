"""The sweep benchmark runs, at a small size, on a fresh database: it cannot rot unseen."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.db import connection

from notifications.models import Notification

BENCH = Path(__file__).resolve().parent.parent / "bench"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmark's inserts are PostgreSQL's SQL"),
]


def test_the_sweep_benchmark_builds_its_data_and_sweeps_it(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_sweep", None)
    import bench_sweep

    bench_sweep.build(200)
    result = bench_sweep.measure()
    # Some follow-ups fall due within the reminder window, and every reminder is claimed.
    assert result["reminders_due"] > 0
    assert result["claimed"] == Notification.objects.count() > 0
    assert "RESULT deadlines=" in capsys.readouterr().out
