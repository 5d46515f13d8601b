"""Reads that need scoping: the one place that decides which cases and people a user may see."""

from __future__ import annotations

import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet
from django.utils import timezone

from casework.models import ACTIVE_REFERRAL_STATUSES, Agency, Case, CaseNote, Consent, Family, Person, Referral
from core.roles import SUPERVISOR, agency_ids_for, is_administrator, programme_ids_for

#: Which cases are enrolled where is the programmes' knowledge (the layer above);
#: ``programmes`` registers its answer at start-up (``programmes.apps``):
#: ``enrolled_case_ids(programme_ids=..., caseworker=...)`` gives a subquery of case ids.
_enrolled_case_ids = None


def register_enrolled_cases(rule) -> None:
    global _enrolled_case_ids
    _enrolled_case_ids = rule


def enrolled_case_ids(**criteria) -> QuerySet:
    if _enrolled_case_ids is None:
        raise ImproperlyConfigured("No app has said which cases are enrolled where (programmes.apps).")
    return _enrolled_case_ids(**criteria)


def referrals_granting_access(*, agency_ids: list[int], day: datetime.date | None = None) -> QuerySet[Referral]:
    """Referrals that let an agency see a case today: active, with a current consent, of a case not archived."""
    day = day or timezone.localdate()
    return Referral.objects.filter(
        agency_id__in=agency_ids,
        status__in=ACTIVE_REFERRAL_STATUSES,
        consent__given_on__lte=day,
        case__archived_at__isnull=True,
    ).filter(
        Q(consent__expires_on__isnull=True) | Q(consent__expires_on__gte=day),
        Q(consent__withdrawn_on__isnull=True) | Q(consent__withdrawn_on__gt=day),
    )


def _staff_case_filter(user) -> Q | None:
    """Cases a caseworker or supervisor may see: those enrolled in their programmes, and
    those assigned to them that are not enrolled anywhere yet. None for a user who holds
    no programme membership: being named a case's caseworker alone gives no access.

    A case assigned to the user and enrolled in one of their programmes is already
    theirs through the enrolment, so the assignment only adds the cases not enrolled
    anywhere; an assignment to a case of another programme gives nothing. The role is
    read once here, so removing a membership ends access on the next request.
    """
    if not user.is_authenticated or not user.is_active:
        return None
    programme_ids = programme_ids_for(user)
    if not programme_ids:
        return None
    enrolled_here = Q(id__in=enrolled_case_ids(programme_ids=programme_ids))
    # The cases assigned to the user (the caseworker index) less those of them enrolled
    # somewhere: a small set, computed once, not a subquery per case.
    assigned_not_enrolled = Q(caseworker=user) & ~Q(id__in=enrolled_case_ids(caseworker=user))
    # An archived case (an administrator's deletion) is seen by administrators only.
    return (enrolled_here | assigned_not_enrolled) & Q(archived_at__isnull=True)


def _partner_case_filter(user) -> Q | None:
    agency_ids = agency_ids_for(user)
    if not agency_ids:
        return None
    return Q(id__in=referrals_granting_access(agency_ids=agency_ids).values("case_id"))


def case_visible_to(user) -> QuerySet[Case]:
    """Cases the user may see: all for administrators; their programmes' and their own
    for staff; for partners, those referred to their agency with a current consent."""
    if is_administrator(user):
        return Case.objects.all()
    filters = [f for f in (_staff_case_filter(user), _partner_case_filter(user)) if f is not None]
    if not filters:
        return Case.objects.none()
    combined = filters[0]
    for extra in filters[1:]:
        combined |= extra
    return Case.objects.filter(combined)


def _created_without_case(user, *, case_field: str) -> Q:
    """Rows (people or families) the user recorded that no case refers to yet: their
    creator sees them at once, before any case exists. Once a case refers to the row,
    the case's scope decides, for the creator as for anyone.

    The cases excluded are only those of the user's own records (the creator index),
    a small set computed once, not a subquery per row."""
    referred = Case.objects.filter(**{f"{case_field}__created_by": user}).values(f"{case_field}_id")
    return Q(created_by=user) & ~Q(id__in=referred)


#: A record merged into another (``lifecycle.merge``) is a pointer, not a person: no
#: list, search, picker or service offers it; its old links lead to the kept record.
NOT_MERGED = Q(merged_into__isnull=True)


def person_visible_to(user) -> QuerySet[Person]:
    """People the user may see. Staff see the people of their cases and those cases'
    families, and the people they recorded who have no case yet; partners see only
    the people of the cases referred to them. Never a record merged into another."""
    if is_administrator(user):
        return Person.objects.filter(NOT_MERGED)
    from casework.models import FamilyMembership

    allowed = Q(pk__in=[])
    staff = _staff_case_filter(user)
    if staff is not None:
        staff_cases = Case.objects.filter(staff)
        allowed |= (
            Q(id__in=staff_cases.values("person_id"))
            | Q(
                id__in=FamilyMembership.objects.filter(family_id__in=staff_cases.values("family_id")).values(
                    "person_id"
                )
            )
            | _created_without_case(user, case_field="person")
        )
    partner = _partner_case_filter(user)
    if partner is not None:
        allowed |= Q(id__in=Case.objects.filter(partner).values("person_id"))
    return Person.objects.filter(allowed & NOT_MERGED)


#: Merges chain (A into B, later B into C) only as far as this; the service re-points
#: older pointers at each merge, so one step is the rule.
MERGE_CHAIN_LIMIT = 10


def person_kept_for(user, person_id) -> Person | None:
    """For the id of a merged record: the record it was merged into, when ``user`` may
    see it (old links lead there); None for any other id, or a kept record the user
    may not see (answered as a missing row)."""
    if not str(person_id).isdigit() or len(str(person_id)) > 18:
        return None
    current = Person.objects.filter(pk=person_id, merged_into__isnull=False).values_list("merged_into_id", flat=True)
    target = current.first()
    for _step in range(MERGE_CHAIN_LIMIT):
        if target is None:
            return None
        onward = Person.objects.filter(pk=target).values_list("merged_into_id", flat=True).first()
        if onward is None:
            return person_visible_to(user).filter(pk=target).first()
        target = onward
    return None


def staff_cases_of(user) -> QuerySet[Case] | None:
    """The cases a user sees as programme staff (not as a partner); None for non-staff."""
    staff = _staff_case_filter(user)
    return None if staff is None else Case.objects.filter(staff)


def partner_agencies_of(user) -> list[tuple[int, str]]:
    """(id, kind) of the active agencies the user acts for."""
    agency_ids = agency_ids_for(user)
    if not agency_ids:
        return []
    return list(Agency.objects.filter(id__in=agency_ids).values_list("id", "kind"))


def family_visible_to(user) -> QuerySet[Family]:
    """Families of the cases staff see, and those a staff member recorded that have no
    case yet. Partners see no family: only the person referred."""
    if is_administrator(user):
        return Family.objects.all()
    staff_cases = staff_cases_of(user)
    if staff_cases is None:
        return Family.objects.none()
    return Family.objects.filter(
        Q(id__in=staff_cases.values("family_id")) | _created_without_case(user, case_field="family")
    )


def referral_visible_to(user) -> QuerySet[Referral]:
    """Staff see the referrals of their cases; a partner sees its agency's referrals
    while they grant access (active, consent current)."""
    if is_administrator(user):
        return Referral.objects.all()
    allowed = Q(pk__in=[])
    staff_cases = staff_cases_of(user)
    if staff_cases is not None:
        allowed |= Q(case_id__in=staff_cases.values("id"))
    agency_ids = agency_ids_for(user)
    if agency_ids:
        allowed |= Q(id__in=referrals_granting_access(agency_ids=agency_ids).values("id"))
    return Referral.objects.filter(allowed)


def note_visible_to(user) -> QuerySet[CaseNote]:
    """Case notes are for programme staff: the notes of the cases they see; partners none."""
    if is_administrator(user):
        return CaseNote.objects.all()
    staff_cases = staff_cases_of(user)
    if staff_cases is None:
        return CaseNote.objects.none()
    return CaseNote.objects.filter(case_id__in=staff_cases.values("id"))


def consent_visible_to(user) -> QuerySet[Consent]:
    """Consents as programme staff work with them: those of the people of their cases;
    partners none (they read what a referral lets them, not the consent behind it)."""
    if is_administrator(user):
        return Consent.objects.all()
    staff_cases = staff_cases_of(user)
    if staff_cases is None:
        return Consent.objects.none()
    return Consent.objects.filter(person_id__in=staff_cases.values("person_id"))


def agency_visible_to(user) -> QuerySet[Agency]:
    """Staff see every agency (they refer to them); a partner sees only its own."""
    if is_administrator(user) or programme_ids_for(user):
        return Agency.objects.all()
    return Agency.objects.filter(id__in=agency_ids_for(user))


def sensitive_person_visible_to(user) -> QuerySet[Person]:
    """People whose sensitive details (former names, aliases, identifiers, legal status)
    the user may see: the one rule for the admin pages, the admin search, the API and
    the exports.

    Administrators see all; a supervisor sees them for the cases of the programmes
    they supervise; a caseworker only for the cases assigned to them. A relative
    without a case of their own follows the cases of their family. Whoever recorded a
    person who has no case yet sees what they typed (while they hold a staff role).
    Partners never.
    """
    if is_administrator(user):
        return Person.objects.all()
    cases = sensitive_case_visible_to(user)
    from casework.models import FamilyMembership

    own = Q(id__in=cases.values("person_id"))
    relatives = Q(
        id__in=FamilyMembership.objects.filter(family_id__in=cases.values("family_id")).values("person_id")
    ) & ~Q(id__in=Case.objects.values("person_id"))
    allowed = own | relatives
    if _staff_case_filter(user) is not None:
        allowed |= _created_without_case(user, case_field="person")
    return Person.objects.filter(allowed)


def sensitive_case_visible_to(user) -> QuerySet[Case]:
    """Cases whose sensitive details the user may see (see ``sensitive_person_visible_to``)."""
    if is_administrator(user):
        return Case.objects.all()
    staff = _staff_case_filter(user)
    if staff is None or not programme_ids_for(user):
        return Case.objects.none()
    supervised = programme_ids_for(user, role=SUPERVISOR)
    allowed = Q(caseworker=user)
    if supervised:
        allowed |= Q(id__in=enrolled_case_ids(programme_ids=supervised))
    return Case.objects.filter(staff & allowed)


def may_see_sensitive_case(user, case: Case) -> bool:
    return sensitive_case_visible_to(user).filter(pk=case.pk).exists()


def may_see_sensitive_person(user, person: Person) -> bool:
    return sensitive_person_visible_to(user).filter(pk=person.pk).exists()
