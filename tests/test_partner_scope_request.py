"""A partner's scope within one request (roles and the answers derived from them are read
once per request): a referral accepted or a consent withdrawn within the request counts at
once, and a referral of one stage opens that stage only while it is a stage of the case
referred. Every name here is fictional."""

from __future__ import annotations

import pytest
from django.utils import timezone

from casework.models import ConsentPurpose, ReferralStatus
from casework.selectors import case_visible_to
from core.roles import roles_resolved_once
from programmes.models import StageRecord
from programmes.selectors import follow_up_visible_to, stage_visible_to
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_referral_accepted_within_the_request_opens_the_case_at_once(case, partner, agency):
    referral = f.ReferralFactory(case=case, agency=agency, status=ReferralStatus.PENDING)
    with roles_resolved_once():
        assert case not in case_visible_to(partner)
        assert not stage_visible_to(partner).exists()
        referral.status = ReferralStatus.ACCEPTED
        referral.save()
        assert case in case_visible_to(partner)
        assert stage_visible_to(partner).exists()


def test_a_consent_withdrawn_within_the_request_closes_the_case_at_once(case, partner, agency):
    referral = f.ReferralFactory(case=case, agency=agency, status=ReferralStatus.ACCEPTED)
    with roles_resolved_once():
        assert case in case_visible_to(partner)
        referral.consent.withdrawn_on = timezone.localdate()
        referral.consent.save()
        assert case not in case_visible_to(partner)
        assert not stage_visible_to(partner).exists() and not follow_up_visible_to(partner).exists()


def test_a_referral_of_one_stage_opens_it_only_while_it_is_a_stage_of_the_case_referred(
    case, other_case, partner, agency
):
    own = StageRecord.objects.filter(enrolment__case=case, stage_type__kind="psychological").get()
    foreign = StageRecord.objects.filter(enrolment__case=other_case, stage_type__kind="psychological").get()
    referral = f.ReferralFactory(
        case=case, agency=agency, status=ReferralStatus.ACCEPTED, purpose=ConsentPurpose.PSYCHOSOCIAL, stage=foreign
    )
    assert case in case_visible_to(partner)
    assert not stage_visible_to(partner).filter(pk__in=[own.pk, foreign.pk]).exists()
    referral.stage = own
    referral.save()
    assert list(stage_visible_to(partner).values_list("pk", flat=True)) == [own.pk]
