"""Which rows of the lifecycle's models a user may pick (registered in ``core.visibility``)."""

from __future__ import annotations

from django.db.models import QuerySet

from core import visibility
from lifecycle import transfer
from core.roles import is_administrator, programme_ids_for
from lifecycle.models import CohortImport, CohortImportRow


def rows_for_cohort_imports(user) -> QuerySet:
    """Imports into the programmes a user works in (every import for administrators)."""
    if is_administrator(user):
        return CohortImport.objects.all()
    return CohortImport.objects.filter(programme_id__in=programme_ids_for(user))


def rows_for_cohort_import_rows(user) -> QuerySet:
    return CohortImportRow.objects.filter(cohort_import_id__in=rows_for_cohort_imports(user).values("pk"))


def register() -> None:
    visibility.register(
        {
            "lifecycle.CohortImport": rows_for_cohort_imports,
            "lifecycle.CohortImportRow": rows_for_cohort_import_rows,
            "lifecycle.TransferRequest": transfer.transfer_requests_visible_to,
        }
    )
