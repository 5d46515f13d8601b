"""Which rows of casework's models a user may pick (registered in ``core.visibility``)."""

from __future__ import annotations

from django.db.models import QuerySet

from casework import selectors
from casework.models import (
    Case,
    ClosureRequest,
    Consent,
    DistinctPersonPair,
    Referral,
)
from core import visibility
from core.roles import is_administrator


def _case_actable_by(user) -> QuerySet:
    """Cases a user may act on in the admin: administrators all, staff their programmes'
    and their own. A partner agency acts through the API on its referrals only."""
    if is_administrator(user):
        return Case.objects.all()
    staff = selectors.staff_cases_of(user)
    return staff if staff is not None else Case.objects.none()


def rows_for_consents(user) -> QuerySet:
    if is_administrator(user):
        return Consent.objects.all()
    return Consent.objects.filter(person_id__in=selectors.person_visible_to(user).values("pk"))


def rows_for_closure_requests(user) -> QuerySet:
    return ClosureRequest.objects.filter(case_id__in=_case_actable_by(user).values("pk"))


def rows_for_referrals(user) -> QuerySet:
    """Referrals staff work with: those of the cases they act on."""
    return Referral.objects.filter(case_id__in=_case_actable_by(user).values("pk"))


def rows_for_distinct_person_pairs(user) -> QuerySet:
    """Decisions about two people: seen by whoever sees both of them."""
    if is_administrator(user):
        return DistinctPersonPair.objects.all()
    people = selectors.person_visible_to(user).values("pk")
    return DistinctPersonPair.objects.filter(person_a_id__in=people, person_b_id__in=people)


def register() -> None:
    visibility.register(
        {
            "casework.Person": selectors.person_visible_to,
            "casework.Family": selectors.family_visible_to,
            "casework.ReceivingRelative": selectors.receiving_relative_visible_to,
            "casework.Case": _case_actable_by,
            "casework.Consent": rows_for_consents,
            "casework.Referral": rows_for_referrals,
            "casework.ClosureRequest": rows_for_closure_requests,
            "casework.Agency": selectors.agency_visible_to,
            "casework.DistinctPersonPair": rows_for_distinct_person_pairs,
        }
    )
