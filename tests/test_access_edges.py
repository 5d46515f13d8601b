"""The edges of access: the first and last day of a consent, its withdrawal, a
deactivated caseworker, and a user who is both programme staff and a partner.

Each test states what a user would notice if the rule broke; together they pin
down every boundary of ``referrals_granting_access`` and the union of scopes.
"""

import datetime

import pytest
from django.utils import timezone

from casework.models import ConsentPurpose, ReferralStatus
from casework.selectors import (
    case_visible_to,
    person_visible_to,
    referrals_granting_access,
)
from programmes.selectors import enrolment_visible_to, stage_visible_to
from tests import factories as f

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def visible(user):
    return set(case_visible_to(user).values_list("reference", flat=True))


def refer(case, agency, *, given_on, expires_on=None, withdrawn_on=None):
    """An accepted referral of ``case`` to ``agency`` under a consent with these dates."""
    consent = f.ConsentFactory(
        person=case.person,
        agency=agency,
        purpose=ConsentPurpose.PSYCHOSOCIAL,
        given_on=given_on,
        expires_on=expires_on,
        withdrawn_on=withdrawn_on,
    )
    return f.ReferralFactory(
        case=case, agency=agency, purpose=ConsentPurpose.PSYCHOSOCIAL, consent=consent, status=ReferralStatus.ACCEPTED
    )


# --- the consent's days, as the partner sees them today ------------------------------------------


def test_a_partner_sees_nothing_the_day_before_the_consent_is_given(case, partner, agency):
    refer(case, agency, given_on=timezone.localdate() + DAY)
    assert visible(partner) == set()
    assert set(person_visible_to(partner)) == set()
    assert not stage_visible_to(partner).exists()


def test_a_partner_sees_the_case_on_the_day_the_consent_is_given(case, partner, agency):
    refer(case, agency, given_on=timezone.localdate())
    assert visible(partner) == {case.reference}
    assert set(person_visible_to(partner)) == {case.person}


def test_a_partner_sees_the_case_on_the_last_day_of_the_consent(case, partner, agency):
    today = timezone.localdate()
    refer(case, agency, given_on=today - 10 * DAY, expires_on=today)
    assert visible(partner) == {case.reference}


def test_a_partner_sees_nothing_the_day_after_the_consent_expired(case, partner, agency):
    today = timezone.localdate()
    refer(case, agency, given_on=today - 10 * DAY, expires_on=today - DAY)
    assert visible(partner) == set()


def test_a_partner_sees_nothing_from_the_day_consent_is_withdrawn(case, partner, agency):
    refer(case, agency, given_on=timezone.localdate() - 10 * DAY, withdrawn_on=timezone.localdate())
    assert visible(partner) == set()
    assert not stage_visible_to(partner).exists()


def test_a_partner_still_sees_the_case_the_day_before_a_withdrawal_takes_effect(case, partner, agency):
    refer(case, agency, given_on=timezone.localdate() - 10 * DAY, withdrawn_on=timezone.localdate() + DAY)
    assert visible(partner) == {case.reference}


# --- the same boundaries along a consent's life, day by day ----------------------------------------

GIVEN = datetime.date(2026, 3, 10)
EXPIRES = datetime.date(2026, 3, 20)
WITHDRAWN = datetime.date(2026, 3, 15)


@pytest.mark.parametrize(
    "day, grants",
    [
        (GIVEN - DAY, False),  # before the consent was given
        (GIVEN, True),  # its first day
        (EXPIRES, True),  # its last day
        (EXPIRES + DAY, False),  # the day after it expired
    ],
    ids=["day-before-given", "first-day", "last-day", "day-after-expiry"],
)
def test_a_referral_grants_access_from_the_first_to_the_last_day_of_its_consent(case, agency, day, grants):
    referral = refer(case, agency, given_on=GIVEN, expires_on=EXPIRES)
    granting = referrals_granting_access(agency_ids=[agency.pk], day=day)
    assert (referral in granting) is grants


@pytest.mark.parametrize(
    "day, grants",
    [(WITHDRAWN - DAY, True), (WITHDRAWN, False), (WITHDRAWN + DAY, False)],
    ids=["day-before-withdrawal", "day-of-withdrawal", "day-after-withdrawal"],
)
def test_a_withdrawn_consent_grants_nothing_from_the_day_of_withdrawal(case, agency, day, grants):
    referral = refer(case, agency, given_on=GIVEN, expires_on=EXPIRES, withdrawn_on=WITHDRAWN)
    granting = referrals_granting_access(agency_ids=[agency.pk], day=day)
    assert (referral in granting) is grants


# --- staff ----------------------------------------------------------------------------------------


def test_a_deactivated_caseworker_sees_nothing_of_their_own_case(case, caseworker):
    assert visible(caseworker) == {case.reference}
    caseworker.is_active = False
    caseworker.save()
    assert visible(caseworker) == set()
    assert set(person_visible_to(caseworker)) == set()
    assert not stage_visible_to(caseworker).exists()
    assert not enrolment_visible_to(caseworker).exists()


def test_a_user_who_is_both_caseworker_and_partner_sees_both_sets(case, other_case, caseworker, agency):
    """A caseworker of one programme who also acts for an agency sees their programme's
    cases and, through the agency, the cases referred to it from another programme."""
    agency.members.add(caseworker)
    refer(other_case, agency, given_on=timezone.localdate() - DAY)
    assert visible(caseworker) == {case.reference, other_case.reference}
    assert set(person_visible_to(caseworker)) == {case.person, other_case.person}
    stage_cases = set(stage_visible_to(caseworker).values_list("enrolment__case__reference", flat=True))
    assert stage_cases == {case.reference, other_case.reference}
    enrolment_cases = set(enrolment_visible_to(caseworker).values_list("case__reference", flat=True))
    assert enrolment_cases == {case.reference, other_case.reference}
