"""Who reads a person's legal proceedings: the one rule, for every door.

- administrators: every proceeding;
- a programme's supervisors and legal officers: the proceedings of the cases
  enrolled in that programme (not archived);
- a partner agency: the proceedings of the cases referred to it for legal aid,
  once it has accepted the referral and while its consent is current;
- nobody else: not a caseworker, not a partner referred for anything else.

Registered in ``core.visibility`` (``justice.apps``), so admin forms, API bodies
and services offer and accept the same rows the lists show.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from casework.models import Case, ConsentPurpose, ReferralStatus
from casework.selectors import referrals_granting_access
from core.roles import LEGAL_OFFICER, SUPERVISOR, agency_ids_for, is_administrator, programme_ids_for
from justice.models import CourtHearing, LegalProceeding
from programmes.selectors import enrolments_giving_access


def legal_programme_ids(user) -> list[int]:
    """The programmes whose legal proceedings the user reads and records (as supervisor or legal officer)."""
    return sorted(set(programme_ids_for(user, role=SUPERVISOR)) | set(programme_ids_for(user, role=LEGAL_OFFICER)))


def may_record_proceedings(user) -> bool:
    """Whether the user records legal proceedings at all (administrators, supervisors, legal officers)."""
    return is_administrator(user) or bool(legal_programme_ids(user))


def legal_cases_of(user) -> QuerySet[Case]:
    """The cases whose legal proceedings the user records: the staff side of the rule."""
    if is_administrator(user):
        return Case.objects.all()
    programme_ids = legal_programme_ids(user)
    if not programme_ids:
        return Case.objects.none()
    enrolled = enrolments_giving_access().filter(programme_id__in=programme_ids).values("case_id")
    return Case.objects.filter(id__in=enrolled, archived_at__isnull=True)


def legal_aid_case_ids(user) -> QuerySet | None:
    """Cases referred to the user's agencies for legal aid (accepted, consent current), or None."""
    agency_ids = agency_ids_for(user)
    if not agency_ids:
        return None
    return (
        referrals_granting_access(agency_ids=agency_ids)
        .filter(status=ReferralStatus.ACCEPTED, purpose=ConsentPurpose.LEGAL_AID)
        .values("case_id")
    )


def proceeding_visible_to(user) -> QuerySet[LegalProceeding]:
    if is_administrator(user):
        return LegalProceeding.objects.all()
    allowed = Q(pk__in=[])
    if legal_programme_ids(user):
        allowed |= Q(case_id__in=legal_cases_of(user).values("id"))
    legal_aid = legal_aid_case_ids(user)
    if legal_aid is not None:
        allowed |= Q(case_id__in=legal_aid)
    return LegalProceeding.objects.filter(allowed)


def hearing_visible_to(user) -> QuerySet[CourtHearing]:
    if is_administrator(user):
        return CourtHearing.objects.all()
    return CourtHearing.objects.filter(proceeding_id__in=proceeding_visible_to(user).values("id"))


def proceeding_recordable_by(user) -> QuerySet[LegalProceeding]:
    """The proceedings a user may change (and add hearings to): staff only, never a partner."""
    if is_administrator(user):
        return LegalProceeding.objects.all()
    return LegalProceeding.objects.filter(case_id__in=legal_cases_of(user).values("id"))
