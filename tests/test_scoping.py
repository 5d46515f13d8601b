"""Who sees which case: the selectors every door uses."""

import datetime

import pytest
from django.utils import timezone

from casework.models import ReferralStatus
from casework.selectors import case_visible_to, person_visible_to
from programmes.models import ProgrammeMembership
from programmes.selectors import stage_visible_to
from tests import factories as f

pytestmark = pytest.mark.django_db


def visible(user):
    return set(case_visible_to(user).values_list("reference", flat=True))


def test_each_role_sees_its_cases(case, other_case, caseworker, other_caseworker, supervisor, administrator):
    assert visible(caseworker) == {case.reference}
    assert visible(other_caseworker) == {other_case.reference}
    assert visible(supervisor) == {case.reference}
    assert visible(administrator) == {case.reference, other_case.reference}


def test_partner_sees_only_active_referrals_with_current_consent(
    case, other_case, partner, agency, partner_without_referral
):
    assert visible(partner) == set()
    referral = f.ReferralFactory(case=case, agency=agency, status=ReferralStatus.ACCEPTED)
    assert visible(partner) == {case.reference}
    assert visible(partner_without_referral) == set()
    # Partners see the referred person only, not the rest of the family, and of the
    # stages only those the referral's purpose (psychosocial support) covers.
    assert set(person_visible_to(partner)) == {case.person}
    assert set(stage_visible_to(partner).values_list("stage_type__kind", flat=True)) == {"psychological"}

    referral.consent.withdrawn_on = timezone.localdate()
    referral.consent.save()
    assert visible(partner) == set()

    referral.consent.withdrawn_on = None
    referral.consent.expires_on = timezone.localdate() - datetime.timedelta(days=1)
    referral.consent.given_on = referral.consent.expires_on - datetime.timedelta(days=3)
    referral.consent.save()
    assert visible(partner) == set()

    referral.consent.expires_on = None
    referral.consent.save()
    referral.status = ReferralStatus.DECLINED
    referral.save()
    assert visible(partner) == set()


def test_losing_a_role_or_being_deactivated_ends_access(case, caseworker):
    assert visible(caseworker) == {case.reference}
    case.caseworker = None
    case.save()
    ProgrammeMembership.objects.filter(user=caseworker).delete()
    assert visible(caseworker) == set()

    f.add_member(case.enrolments.get().programme, caseworker, "caseworker")
    caseworker.is_active = False
    caseworker.save()
    assert visible(caseworker) == set()


def test_staff_see_family_members_of_their_cases(case, caseworker, other_caseworker):
    family = f.cw.Family.objects.create(reference="F-1")
    relative = f.PersonFactory(given_name="Relative")
    f.cw.FamilyMembership.objects.create(family=family, person=case.person, relationship="head")
    f.cw.FamilyMembership.objects.create(
        family=family, person=relative, relationship="parent", role="receiving_relative"
    )
    case.family = family
    case.save()
    assert relative in person_visible_to(caseworker)
    assert relative not in person_visible_to(other_caseworker)
