"""The edges of access: the first and last day of a consent, its withdrawal, a
deactivated caseworker, and a user who is both programme staff and a partner.

Each test states what a user would notice if the rule broke; together they pin
down every boundary of ``referrals_granting_access`` and the union of scopes.
"""

import datetime

import pytest
from django.utils import timezone

from casework.models import ConsentPurpose, Family, FamilyMembership, ReferralStatus
from casework.selectors import (
    agency_visible_to,
    case_visible_to,
    may_see_sensitive_case,
    may_see_sensitive_person,
    person_visible_to,
    referral_visible_to,
    referrals_granting_access,
    register_enrolled_cases,
)
from programmes.models import ProgrammeMembershipRole
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


# --- referrals, agencies and sensitive details -------------------------------------------------------


def test_staff_see_the_referrals_of_their_cases_only(case, other_case, caseworker, other_caseworker, agency):
    ours = refer(case, agency, given_on=timezone.localdate() - DAY)
    theirs = refer(other_case, agency, given_on=timezone.localdate() - DAY)
    assert set(referral_visible_to(caseworker)) == {ours}
    assert set(referral_visible_to(other_caseworker)) == {theirs}


def test_a_partner_sees_its_agencys_referral_only_while_it_grants_access(case, other_case, partner, agency):
    today = timezone.localdate()
    current = refer(case, agency, given_on=today - DAY)
    refer(other_case, agency, given_on=today - 10 * DAY, expires_on=today - DAY)  # expired yesterday
    refer(case, f.AgencyFactory(code="another-agency"), given_on=today - DAY)  # another agency's
    assert set(referral_visible_to(partner)) == {current}


def test_a_user_without_a_role_sees_no_referral_and_no_agency(case, agency):
    refer(case, agency, given_on=timezone.localdate() - DAY)
    nobody = f.UserFactory(username="nobody", is_staff=False)
    assert not referral_visible_to(nobody).exists()
    assert not agency_visible_to(nobody).exists()


def test_staff_see_every_agency_and_a_partner_only_its_own(caseworker, partner, agency):
    other = f.AgencyFactory(code="another-agency")
    assert set(agency_visible_to(caseworker)) >= {agency, other}
    assert set(agency_visible_to(partner)) == {agency}


def test_sensitive_details_of_a_case_are_for_its_caseworker_and_supervisor_not_a_colleague(
    case, programme, caseworker, supervisor, other_caseworker, partner, agency, administrator
):
    colleague = f.add_member(programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER)
    refer(case, agency, given_on=timezone.localdate() - DAY)
    assert case in case_visible_to(colleague)  # the colleague sees the case, not its sensitive details
    assert may_see_sensitive_case(caseworker, case)
    assert may_see_sensitive_case(supervisor, case)
    assert may_see_sensitive_case(administrator, case)
    assert not may_see_sensitive_case(colleague, case)
    assert not may_see_sensitive_case(other_caseworker, case)
    assert not may_see_sensitive_case(partner, case)


def test_sensitive_details_follow_the_case_its_family_and_what_the_caseworker_recorded(case, other_case, caseworker):
    """The caseworker sees the sensitive details of their case's person, of a relative
    with no case of their own, and of a person they recorded who has no case yet; not
    of a relative whose own case belongs to another programme."""
    family = Family.objects.create(reference="FAM-EDGE-1", label="Edge family (test)")
    grandmother = f.PersonFactory(given_name="Grandgiven")
    for person, relationship in ((case.person, "head"), (grandmother, "grandparent"), (other_case.person, "sibling")):
        FamilyMembership.objects.create(family=family, person=person, relationship=relationship)
    case.family = family
    case.save()
    recorded = f.PersonFactory(given_name="Recordedgiven", created_by=caseworker)

    assert may_see_sensitive_person(caseworker, case.person)
    assert may_see_sensitive_person(caseworker, grandmother)
    assert may_see_sensitive_person(caseworker, recorded)
    assert not may_see_sensitive_person(caseworker, other_case.person)


def test_a_supervisor_who_is_a_caseworker_elsewhere_sees_sensitive_details_of_their_own_cases_there_only(
    case, programme, other_programme, other_case
):
    user = f.add_member(programme, f.UserFactory(username="both-roles"), ProgrammeMembershipRole.SUPERVISOR)
    f.add_member(other_programme, user, ProgrammeMembershipRole.CASEWORKER)
    own_there = f.CaseFactory(caseworker=user, reference="S-0002")
    f.enrol(own_there, other_programme, by=user)

    assert may_see_sensitive_case(user, case)  # supervised programme
    assert may_see_sensitive_case(user, own_there)  # assigned to them in the other programme
    assert not may_see_sensitive_case(user, other_case)  # a colleague's case in the other programme


def test_registering_the_programmes_rule_again_changes_no_scope(case, caseworker):
    """Start-up may run twice (a reloaded worker); the staff scope stays the same."""
    from programmes.selectors import enrolled_case_ids

    register_enrolled_cases(enrolled_case_ids)
    assert visible(caseworker) == {case.reference}


def test_a_partner_sees_nothing_of_a_case_an_administrator_archived(case, partner, agency):
    refer(case, agency, given_on=timezone.localdate() - DAY)
    assert visible(partner) == {case.reference}
    case.archived_at = timezone.now()
    case.save()
    assert visible(partner) == set()
    assert not referral_visible_to(partner).exists()


def test_a_caseworker_who_acts_for_an_agency_sees_the_referrals_of_both(case, other_case, caseworker, agency):
    ours = refer(case, f.AgencyFactory(code="another-agency"), given_on=timezone.localdate() - DAY)
    agency.members.add(caseworker)
    theirs = refer(other_case, agency, given_on=timezone.localdate() - DAY)
    assert set(referral_visible_to(caseworker)) == {ours, theirs}


def test_without_the_programmes_rule_a_case_list_fails_loudly_and_says_who_registers_it(caseworker, monkeypatch):
    """Never an empty or unscoped list: the error names the missing registration."""
    from django.core.exceptions import ImproperlyConfigured

    import casework.selectors

    monkeypatch.setattr(casework.selectors, "_enrolled_case_ids", None)
    with pytest.raises(ImproperlyConfigured) as refused:
        list(case_visible_to(caseworker))
    assert str(refused.value) == "No app has said which cases are enrolled where (programmes.apps)."
