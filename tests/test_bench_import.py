"""The cohort import benchmark (``bench/bench_import.py``) at a small size, so that it
keeps working: it builds people on file, writes a cohort file, imports it step by step
and measures. All names are generated and fictional."""

import sys
from pathlib import Path

import pytest
from django.db import connection

from casework.models import Person
from lifecycle.models import CohortImportRow, CohortImportRowStatus

pytestmark = pytest.mark.django_db

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


def test_the_import_benchmark_runs_at_a_small_size():
    import bench_import

    figures = bench_import.run(rows=80, persons=300, near=0.25)

    assert figures["rows"] == 80
    rows = CohortImportRow.objects.all()
    # Every row is registered or waits in the review queue; the near ones wait.
    assert rows.count() == 80
    registered = rows.filter(status=CohortImportRowStatus.REGISTERED).count()
    assert registered == figures["created_persons"] == figures["created_cases"] > 0
    assert rows.filter(status=CohortImportRowStatus.PENDING).count() == 80 - registered > 0
    assert figures["awaiting_review"] > 0
    assert Person.objects.count() == 300 + registered
    for step in ("validation", "duplicate_check", "registration", "total"):
        assert figures[step] > 0
    for step in ("cpu_validation", "cpu_duplicate_check", "cpu_registration"):
        assert figures[step] > 0
    assert figures["tracemalloc_peak_mb"] > 0 and figures["maxrss_mb"] > 0
    if connection.vendor == "postgresql":
        assert figures["copy"] > 0
    else:
        assert figures["copy"] is None
