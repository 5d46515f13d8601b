"""Whom a read of casework's rows concerns: the audit trail records one access entry
per kind of row read, naming the people (registered in ``audit.reads`` at start-up)."""

from __future__ import annotations

from audit import reads
from casework.models import Case, FamilyMembership


def _case_persons(rows) -> list[int]:
    return [row.person_id for row in rows]


def _person_persons(rows) -> list[int]:
    return [row.pk for row in rows]


def _family_persons(rows) -> list[int]:
    ids = []
    unfetched = []
    for row in rows:
        cache = getattr(row, "_prefetched_objects_cache", {})
        if "memberships" in cache:
            ids.extend(m.person_id for m in cache["memberships"])
        else:
            unfetched.append(row.pk)
    if unfetched:
        ids.extend(FamilyMembership.objects.filter(family_id__in=unfetched).values_list("person_id", flat=True))
    return ids


def _note_persons(rows) -> list[int]:
    case_ids = {row.case_id for row in rows}
    return list(Case.objects.filter(pk__in=case_ids).values_list("person_id", flat=True))


def register() -> None:
    reads.register_reads(
        {
            "casework.Case": _case_persons,
            "casework.Person": _person_persons,
            "casework.Family": _family_persons,
            "casework.CaseNote": _note_persons,
        }
    )
