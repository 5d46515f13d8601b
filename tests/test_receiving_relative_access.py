"""Who sees the relatives receiving a family (``casework.selectors.receiving_relative_visible_to``):
their names, phones and addresses are among the most sensitive rows of a case. Staff who see the
family see them; a partner agency only while it holds an accepted housing referral of one of
the family's cases with a current consent. Found untested by the selectors' mutation run
(README, "Mutation testing"). Every name here is fictional."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from casework.models import ConsentPurpose, Family, ReceivingRelative, ReferralStatus
from casework.selectors import family_visible_to, receiving_relative_visible_to
from core.roles import CASEWORKERS_GROUP, role_groups_sync
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(case, caseworker):
    # Families number apart from people, so that a family's id is no case's person id.
    for number in range(5):
        Family.objects.create(reference=f"F-PAD-{number}", label="Padding (test)")
    family = Family.objects.create(reference="F-REL-1", label="Relativeova household (test)")
    case.family = family
    case.save()
    relative = ReceivingRelative.objects.create(
        family=family, name="Aunt Testrelativa", relationship="aunt_uncle", phone="+7 700 000 0001"
    )
    # Another family, received by another relative, with a case of the other programme.
    other_family = Family.objects.create(reference="F-REL-2", label="Otherova household (test)")
    other = ReceivingRelative.objects.create(family=other_family, name="Uncle Otherov", relationship="aunt_uncle")
    assert family.pk != case.person_id
    return family, relative, other_family, other


def housing_referral(case, agency, *, status=ReferralStatus.ACCEPTED, purpose=ConsentPurpose.HOUSING):
    return f.ReferralFactory(case=case, agency=agency, purpose=purpose, status=status)


def seen(user) -> set[str]:
    return {relative.name for relative in receiving_relative_visible_to(user)}


def test_staff_see_the_relatives_of_the_families_they_see_and_no_others(
    household, case, other_case, caseworker, other_caseworker, administrator
):
    family, relative, other_family, other = household
    other_case.family = other_family
    other_case.save()
    assert family in family_visible_to(caseworker) and other_family not in family_visible_to(caseworker)
    assert seen(caseworker) == {relative.name}
    assert seen(other_caseworker) == {other.name}
    assert seen(administrator) == {relative.name, other.name}


def test_a_partner_sees_them_only_through_an_accepted_housing_referral(household, case, agency, partner):
    family, relative, _other_family, _other = household
    assert seen(partner) == set()
    # Another purpose opens the case to the agency, not the family's relatives.
    housing_referral(case, agency, purpose=ConsentPurpose.PSYCHOSOCIAL)
    assert seen(partner) == set()
    # A housing referral waiting for the agency's answer opens nothing either.
    pending = housing_referral(case, agency, status=ReferralStatus.PENDING)
    assert seen(partner) == set()
    pending.status = ReferralStatus.ACCEPTED
    pending.save()
    assert seen(partner) == {relative.name}


def test_a_withdrawn_or_not_yet_given_consent_or_an_archived_case_hides_them_again(household, case, agency, partner):
    _family, relative, _other_family, _other = household
    referral = housing_referral(case, agency)
    assert seen(partner) == {relative.name}
    today = timezone.localdate()
    consent = referral.consent
    consent.given_on = today + datetime.timedelta(days=1)
    consent.save()
    assert seen(partner) == set()
    consent.given_on, consent.withdrawn_on = today - datetime.timedelta(days=5), today
    consent.save()
    assert seen(partner) == set()
    consent.withdrawn_on = None
    consent.save()
    case.archived_at = timezone.now()
    case.save()
    assert seen(partner) == set()


def test_another_agency_referred_for_housing_gives_this_partner_nothing(
    household, case, partner, partner_without_referral
):
    _family, relative, _other_family, _other = household
    housing_referral(case, f.AgencyFactory(code="housing-office", name="Housing office (test)"))
    assert seen(partner) == set() and seen(partner_without_referral) == set()


def test_someone_both_staff_and_partner_sees_both_sets(household, case, other_case, caseworker, agency):
    """A caseworker who also acts for an agency referred for housing of another programme's case."""
    family, relative, other_family, other = household
    other_case.family = other_family
    other_case.save()
    agency.members.add(caseworker)
    housing_referral(other_case, agency)
    assert seen(caseworker) == {relative.name, other.name}


def test_the_case_page_shows_the_relatives_phone_to_the_caseworker_only(
    client, household, case, caseworker, other_caseworker
):
    role_groups_sync()
    for user in (caseworker, other_caseworker):
        user.groups.add(Group.objects.get(name=CASEWORKERS_GROUP))
    force_login(client, caseworker)
    page = client.get(f"/admin/casework/case/{case.pk}/change/").content.decode()
    assert "Aunt Testrelativa" in page and "+7 700 000 0001" in page
    force_login(client, other_caseworker)
    response = client.get(f"/admin/casework/case/{case.pk}/change/")
    assert "Aunt Testrelativa" not in response.content.decode()


def test_a_partners_lists_answer_through_the_request_with_its_agency_kinds(case, partner, agency):
    """The agency's kinds are read once per request (``partner_agencies_of``): a partner's
    stage list answers, with the stages its accepted referral covers only."""
    housing_referral(case, agency, purpose=ConsentPurpose.PSYCHOSOCIAL)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(partner)[1]}")
    response = client.get("/api/v1/stages/")
    assert response.status_code == 200
    kinds = {item["stage_type"]["kind"] for item in response.json()["results"]}
    assert kinds == {"psychological"}
