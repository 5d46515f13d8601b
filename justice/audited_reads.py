"""Whom a read of a legal proceeding or a hearing concerns (registered in ``audit.reads``):
every list and page that shows one leaves an access entry naming the person."""

from __future__ import annotations

from audit import reads
from justice.models import LegalProceeding


def _proceeding_persons(rows) -> list[int]:
    return list(
        LegalProceeding.objects.filter(pk__in={row.pk for row in rows}).values_list("case__person_id", flat=True)
    )


def _hearing_persons(rows) -> list[int]:
    return list(
        LegalProceeding.objects.filter(pk__in={row.proceeding_id for row in rows}).values_list(
            "case__person_id", flat=True
        )
    )


def register() -> None:
    reads.register_reads({"justice.LegalProceeding": _proceeding_persons, "justice.CourtHearing": _hearing_persons})
