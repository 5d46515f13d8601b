"""Reads that need scoping: the one place that decides which cases and people a user may see."""

from __future__ import annotations

import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from casework.models import (
    ACTIVE_REFERRAL_STATUSES,
    Agency,
    Case,
    CaseNote,
    Consent,
    ConsentPurpose,
    Family,
    Person,
    ReceivingRelative,
    Referral,
    ReferralStatus,
)
from core.roles import (
    SUPERVISOR,
    agency_ids_for,
    is_administrator,
    programme_ids_for,
    roles_forget_derived,
    roles_of,
)

#: Which cases are enrolled where is the programmes' knowledge (the layer above);
#: ``programmes`` registers its answer at start-up (``programmes.apps``):
#: ``enrolled_case_ids(programme_ids=..., caseworker=...)`` gives a subquery of case ids.
_enrolled_case_ids = None


def register_enrolled_cases(rule) -> None:
    global _enrolled_case_ids
    _enrolled_case_ids = rule
    # Which of a user's cases are enrolled nowhere, and which of their records no case
    # refers to, are read once per request; a case, an enrolment, a person or a family
    # written within the request (intake creates them all) makes them read again.
    for signal in (post_save, post_delete):
        for sender in (Case, rule().model, Person, Family):
            signal.connect(_forget_derived, sender=sender, dispatch_uid=f"roles-derived-{sender.__name__}")


def _forget_derived(**kwargs) -> None:
    roles_forget_derived()


def enrolled_case_ids(**criteria) -> QuerySet:
    if _enrolled_case_ids is None:
        raise ImproperlyConfigured("No app has said which cases are enrolled where (programmes.apps).")
    return _enrolled_case_ids(**criteria)


def _referrals_granting(*, agency_ids: list[int], day: datetime.date | None = None) -> QuerySet[Referral]:
    """Referrals of these agencies, active, with a current consent (whatever their case)."""
    day = day or timezone.localdate()
    return Referral.objects.filter(
        agency_id__in=agency_ids,
        status__in=ACTIVE_REFERRAL_STATUSES,
        consent__given_on__lte=day,
    ).filter(
        Q(consent__expires_on__isnull=True) | Q(consent__expires_on__gte=day),
        Q(consent__withdrawn_on__isnull=True) | Q(consent__withdrawn_on__gt=day),
    )


def referrals_granting_access(*, agency_ids: list[int], day: datetime.date | None = None) -> QuerySet[Referral]:
    """Referrals an agency sees today: active, with a current consent, of a case not
    archived. An accepted one opens the case (and the stages its purpose covers); a
    pending one shows the agency the referral alone."""
    return _referrals_granting(agency_ids=agency_ids, day=day).filter(case__archived_at__isnull=True)


def _ref(path: str, field: str) -> str:
    return f"{path}__{field}" if path else field


def staff_enrolled_condition(user, *, case_path: str = "") -> Q | None:
    """Rows whose case (reached through ``case_path``; "" for cases themselves) is
    enrolled in one of the user's programmes and not archived: the staff scope of every
    row that hangs from an enrolment (enrolments, stages, follow-ups), whose case is
    always enrolled somewhere. None for a user who holds no programme membership.

    An EXISTS on the case's enrolments, not an IN over a list of cases: PostgreSQL
    answers it with a semi-join, from the small side (the programme's enrolments, by
    their programme index) or row by row (by the enrolments' case index) for a page.
    """
    if not user.is_authenticated or not user.is_active:
        return None
    programme_ids = programme_ids_for(user)
    if not programme_ids:
        return None
    enrolled_here = enrolled_case_ids(programme_ids=programme_ids).filter(case_id=OuterRef(_ref(case_path, "pk")))
    # An archived case (an administrator's deletion) is seen by administrators only.
    return Q(Exists(enrolled_here)) & Q(**{_ref(case_path, "archived_at__isnull"): True})


def _staff_case_filter(user) -> Q | None:
    """Cases a caseworker or supervisor may see: those enrolled in their programmes, and
    those assigned to them that are not enrolled anywhere yet. None for a user who holds
    no programme membership: being named a case's caseworker alone gives no access.

    A case assigned to the user and enrolled in one of their programmes is already
    theirs through the enrolment, so the assignment only adds the cases not enrolled
    anywhere; an assignment to a case of another programme gives nothing. The role is
    read once here, so removing a membership ends access on the next request.
    """
    enrolled_here = staff_enrolled_condition(user)
    if enrolled_here is None:
        return None
    # The cases assigned to the user and enrolled nowhere: a small set (by the
    # caseworker index), read once per request, so that the usual answer (none)
    # leaves the semi-join above alone rather than ORing it with a subquery per case.
    # A case is enrolled at intake, in the same transaction, so a request that
    # creates cases does not change this set.
    assigned_not_enrolled = roles_of(user).derived(
        "assigned_not_enrolled",
        lambda: tuple(
            # ``enrolled=False`` first: the few unmarked cases, by their partial index, not
            # an anti-join over every case assigned to the user; the enrolments decide.
            Case.objects.filter(caseworker=user, archived_at__isnull=True, enrolled=False)
            .exclude(Exists(enrolled_case_ids().filter(case_id=OuterRef("pk"))))
            .order_by()
            .values_list("pk", flat=True)
        ),
    )
    if not assigned_not_enrolled:
        return enrolled_here
    return enrolled_here | Q(pk__in=assigned_not_enrolled)


def _partner_case_filter(user) -> Q | None:
    """Cases an agency has taken on: an accepted referral with a current consent. A
    pending referral opens nothing of the case (its name, stages, details, follow-ups,
    other referrals): the agency decides on what the referral itself shows
    (``api.casework.serializers.PENDING_PARTNER_FIELDS``)."""
    agency_ids = agency_ids_for(user)
    if not agency_ids:
        return None
    # Correlated with the case: a semi-join from the agency's referrals, and the
    # archived flag read from the case row itself rather than a scan of every case.
    granting = (
        _referrals_granting(agency_ids=agency_ids).filter(status=ReferralStatus.ACCEPTED).filter(case_id=OuterRef("pk"))
    )
    return Q(Exists(granting)) & Q(archived_at__isnull=True)


def case_visible_to(user) -> QuerySet[Case]:
    """Cases the user may see: all for administrators; their programmes' and their own
    for staff; for partners, those their agency accepted a referral of, with a current
    consent (a pending referral shows the agency the referral alone)."""
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

    A short list of ids (the user's own records, by the creator index, that no case
    refers to, by the cases' index on that column), read once per request, rather than
    a condition ORed with the other ways a row becomes visible: that OR made PostgreSQL
    hash every case of the database for a page (README, "Performance")."""
    model = Person if case_field == "person" else Family
    ids = roles_of(user).derived(
        f"created_without_case:{case_field}",
        lambda: tuple(
            model.objects.filter(created_by=user)
            .exclude(Exists(Case.objects.filter(**{f"{case_field}_id": OuterRef("pk")})))
            .order_by()
            .values_list("pk", flat=True)
        ),
    )
    return Q(pk__in=ids)


def _has_case(cases: QuerySet[Case], *, through: str = "person_id") -> Exists:
    """Rows (people) that one of ``cases`` belongs to, through ``through``: a correlated
    EXISTS, which PostgreSQL answers row by row for a page or hashed for a count."""
    return Exists(cases.filter(**{through: OuterRef("pk")}))


#: A record merged into another (``lifecycle.merge``) is a pointer, not a person: no
#: list, search, picker or service offers it; its old links lead to the kept record.
NOT_MERGED = Q(merged_into__isnull=True)


def person_visible_to(user) -> QuerySet[Person]:
    """People the user may see. Staff see the people of their cases and those cases'
    families, and the people they recorded who have no case yet; partners see only
    the people of the cases referred to them. Never a record merged into another."""
    if is_administrator(user):
        return Person.objects.filter(NOT_MERGED)
    allowed = Q(pk__in=[])
    staff = _staff_case_filter(user)
    if staff is not None:
        staff_cases = Case.objects.filter(staff).order_by()
        # One EXISTS over both ways a case makes a person visible (their own case, or a
        # case of a family they belong to): PostgreSQL probes it by index row by row for
        # a page, where two ORed EXISTS were each hashed over every case of the programme.
        own = staff_cases.filter(person_id=OuterRef("pk")).values("pk")
        of_family = staff_cases.filter(family__memberships__person_id=OuterRef("pk")).values("pk")
        allowed |= Q(Exists(own.union(of_family, all=True))) | _created_without_case(user, case_field="person")
    partner = _partner_case_filter(user)
    if partner is not None:
        allowed |= _has_case(Case.objects.filter(partner))
    return Person.objects.filter(allowed & NOT_MERGED)


#: Merges chain (A into B, later B into C) only as far as this; the service re-points
#: older pointers at each merge, so one step is the rule.
MERGE_CHAIN_LIMIT = 10


def person_kept_for(user, person_id) -> Person | None:
    """For the id of a merged record: the record it was merged into, when ``user`` may
    see it (old links lead there); None for any other id, or a kept record the user
    may not see (answered as a missing row). An id past the range of the records' ids
    (the database's own for the key's type) is no record number and is not asked."""
    _lowest, highest = connection.ops.integer_field_range(Person._meta.pk.get_internal_type())
    if not str(person_id).isdigit() or int(str(person_id)) > highest:
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
    return list(
        roles_of(user).derived(
            "agency_kinds", lambda: tuple(Agency.objects.filter(id__in=agency_ids).values_list("id", "kind"))
        )
    )


def family_visible_to(user) -> QuerySet[Family]:
    """Families of the cases staff see, and those a staff member recorded that have no
    case yet. Partners see no family: only the person referred."""
    if is_administrator(user):
        return Family.objects.all()
    staff_cases = staff_cases_of(user)
    if staff_cases is None:
        return Family.objects.none()
    return Family.objects.filter(
        _has_case(staff_cases, through="family_id") | _created_without_case(user, case_field="family")
    )


def receiving_relative_visible_to(user) -> QuerySet[ReceivingRelative]:
    """The relatives receiving a family: staff who see the family; a partner agency only
    for the families of cases it holds an accepted housing referral for (consent current)."""
    if is_administrator(user):
        return ReceivingRelative.objects.all()
    allowed = Q(pk__in=[])
    if staff_cases_of(user) is not None:
        allowed |= Q(family_id__in=family_visible_to(user).values("id"))
    agency_ids = agency_ids_for(user)
    if agency_ids:
        housing = referrals_granting_access(agency_ids=agency_ids).filter(
            status=ReferralStatus.ACCEPTED, purpose=ConsentPurpose.HOUSING
        )
        allowed |= Q(family_id__in=Case.objects.filter(id__in=housing.values("case_id")).values("family_id"))
    return ReceivingRelative.objects.filter(allowed)


def referral_visible_to(user) -> QuerySet[Referral]:
    """Staff see the referrals of their cases; a partner sees its agency's referrals
    while they are active (pending or accepted) with a current consent. A pending one
    is printed to a partner with only what the agency needs to decide
    (``api.casework.serializers.ReferralSerializer``)."""
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
    own = _has_case(cases)
    relatives = _has_case(cases, through="family__memberships__person_id") & ~_has_case(Case.objects.all())
    allowed = Q(own) | relatives
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
        allowed |= Exists(enrolled_case_ids(programme_ids=supervised).filter(case_id=OuterRef("pk")))
    return Case.objects.filter(staff & allowed)


def may_see_sensitive_case(user, case: Case) -> bool:
    return sensitive_case_visible_to(user).filter(pk=case.pk).exists()


def may_see_sensitive_person(user, person: Person) -> bool:
    return sensitive_person_visible_to(user).filter(pk=person.pk).exists()
