"""The demo's pending cohort import: a few rows waiting in the review queue after `make run`.

The caseload itself comes from ``programmes.demo``; this adds, on top of it, a small
file as a camp's manifest would list it: one family not on file (registered at once)
and two people already on file under the same names and dates of birth (waiting for a
caseworker to say whether they are the same people). Everything in it is fictional.
"""

from __future__ import annotations

import csv
import datetime
import io

from django.contrib.auth import get_user_model

from casework.models import RepatriationOperation
from casework.selectors import person_visible_to
from lifecycle.cohort_import import COLUMNS, ImportResult, cohort_import
from lifecycle.models import CohortImport, CohortImportRow
from programmes.models import Programme

DEMO_FILE_NAME = "demo-manifest-pending.csv"


def demo_imports_reset() -> None:
    """Imports hold their programme and operation: they go before the caseload does."""
    CohortImportRow.objects.all().delete()
    CohortImport.objects.all().delete()


def demo_file(*, on_file, arrival_date) -> bytes:
    """A manifest with one new household and the people ``on_file`` listed again."""
    rows = [
        {
            "household": "PENDING-1",
            "relationship": "head",
            "given_name": "Demonura",
            "family_name": "Pendingova",
            "other_spellings": "Демонура Пендингова",
            "sex": "female",
            "date_of_birth": "1991-04-17",
            "nationality": "KZ",
            "languages": "kk|ru",
        },
        {
            "household": "PENDING-1",
            "relationship": "child",
            "given_name": "Demoali",
            "family_name": "Pendingov",
            "sex": "male",
            "age": "4",
        },
    ]
    for number, person in enumerate(on_file, start=2):
        rows.append(
            {
                "household": f"PENDING-{number}",
                "relationship": "head",
                "given_name": person.given_name,
                "family_name": person.family_name,
                "sex": person.sex,
                "date_of_birth": person.date_of_birth.isoformat(),
            }
        )
    for row in rows:
        row["arrival_date"] = arrival_date.isoformat()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def demo_pending_import() -> ImportResult | None:
    """Import the demo manifest into the first demo programme as the demo caseworker."""
    caseworker = get_user_model().objects.filter(username="caseworker").first()
    programme = Programme.objects.filter(code="north").first()
    operation = RepatriationOperation.objects.order_by("pk").first()
    if caseworker is None or programme is None or operation is None:
        return None
    on_file = list(
        person_visible_to(caseworker)
        .filter(date_of_birth__isnull=False, date_of_birth_estimated=False)
        .exclude(given_name="")
        .order_by("pk")[:2]
    )
    arrival_date = programme.local_today() - datetime.timedelta(days=2)
    return cohort_import(
        demo_file(on_file=on_file, arrival_date=arrival_date),
        file_name=DEMO_FILE_NAME,
        programme=programme,
        operation=operation,
        by=caseworker,
    )
