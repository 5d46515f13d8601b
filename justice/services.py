"""Writes of the justice track: recording a proceeding and its hearings, from any door.

Each runs in one transaction, checks the row against the one rule
(``justice.selectors``: the staff who record proceedings, never a partner),
validates with ``full_clean()`` and is audited as the user who made it.
Recording a first day in custody or a release moves the person's stage plan
(``justice.plan``) in the same transaction.
"""

from __future__ import annotations

from django.db import transaction

from audit.context import acting_as
from core.errors import NotVisible
from justice import plan, selectors
from justice.models import CourtHearing, LegalProceeding


def _require_recordable_case(by, case_id: int) -> None:
    if by is not None and not selectors.legal_cases_of(by).filter(pk=case_id).exists():
        raise NotVisible()


@transaction.atomic
def proceeding_save(*, proceeding: LegalProceeding, by) -> LegalProceeding:
    """Create or change a proceeding. A case the user may not record proceedings of is
    answered as a missing one; the case of a proceeding never changes; a release, once
    recorded, is history (the plan switched on it)."""
    before = None
    if proceeding.pk is not None:
        before = LegalProceeding.objects.select_for_update().filter(pk=proceeding.pk).first()
        if before is None:
            raise NotVisible()
        _require_recordable_case(by, before.case_id)
        proceeding.case_id = before.case_id
        if before.actual_release_on is not None:
            proceeding.actual_release_on = before.actual_release_on
    else:
        _require_recordable_case(by, proceeding.case_id)
        proceeding.created_by = by
    proceeding.full_clean()
    with acting_as(by):
        proceeding.save()
    plan.follow_custody(proceeding=proceeding, before=before, by=by)
    return proceeding


@transaction.atomic
def hearing_save(*, hearing: CourtHearing, by) -> CourtHearing:
    """Create or change a hearing of a proceeding the user records."""
    if hearing.pk is not None:
        current = CourtHearing.objects.select_for_update().filter(pk=hearing.pk).first()
        if current is None:
            raise NotVisible()
        hearing.proceeding_id = current.proceeding_id
    if by is not None and not selectors.proceeding_recordable_by(by).filter(pk=hearing.proceeding_id).exists():
        raise NotVisible()
    hearing.full_clean()
    with acting_as(by):
        hearing.save()
    return hearing
