"""The case's ``enrolled`` mark (``casework.models.Case.enrolled``), kept by every write of an
enrolment: one enrolment saved (``post_save``), enrolments written in bulk (the services call
``cases_mark_enrolled`` after their ``bulk_create``), one deleted, alone or with its case
(``post_delete``: the mark then follows the enrolments left).

The mark is a shortcut for the staff scope, never the rule: the scope still asks the
enrolments, so a case left unmarked (rows written by hand) costs time, not access.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef
from django.db.models.signals import post_delete, post_save

from casework.models import Case
from programmes.models import Enrolment


BATCH = 1000


def cases_mark_enrolled(case_ids: Iterable[int]) -> None:
    """These cases have an enrolment now (an UPDATE per thousand, of those not marked yet)."""
    ids = sorted(set(case_ids))
    for start in range(0, len(ids), BATCH):
        Case.objects.filter(pk__in=ids[start : start + BATCH], enrolled=False).update(enrolled=True)


def cases_recheck_enrolled(case_ids: Iterable[int]) -> None:
    """Mark these cases by the enrolments they still have."""
    ids = sorted(set(case_ids))
    if ids:
        Case.objects.filter(pk__in=ids).update(enrolled=Exists(Enrolment.objects.filter(case_id=OuterRef("pk"))))


def _saved(sender, instance: Enrolment, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        cases_mark_enrolled([instance.case_id])


def _deleted(sender, instance: Enrolment, **kwargs) -> None:
    cases_recheck_enrolled([instance.case_id])


def connect() -> None:
    post_save.connect(_saved, sender=Enrolment, dispatch_uid="case-enrolled-mark")
    post_delete.connect(_deleted, sender=Enrolment, dispatch_uid="case-enrolled-recheck")
