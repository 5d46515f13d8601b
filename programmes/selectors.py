"""Reads of programmes and stages that need scoping."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from casework.models import AgencyKind
from casework.roles import is_administrator, programme_ids_for
from casework.selectors import case_visible_to, partner_agencies_of, referrals_granting_access, staff_cases_of
from programmes.models import Enrolment, FollowUp, Programme, StageKind, StageRecord, StageType

# What a specialised agency works on: a school sees schooling, not psychology.
# Agencies of other kinds (UN agencies, the Red Cross, NGOs) work across
# stages and see every stage of a case referred to them.
AGENCY_STAGE_KINDS = {
    AgencyKind.SCHOOL: (StageKind.SCHOOLING,),
    AgencyKind.HEALTH: (StageKind.PSYCHOLOGICAL,),
    AgencyKind.CIVIL_REGISTRY: (StageKind.DOCUMENTS,),
    AgencyKind.EMPLOYMENT: (StageKind.EMPLOYMENT,),
}


def programme_visible_to(user) -> QuerySet[Programme]:
    if is_administrator(user):
        return Programme.objects.all()
    return Programme.objects.filter(id__in=programme_ids_for(user))


def stage_type_visible_to(user) -> QuerySet[StageType]:
    if is_administrator(user):
        return StageType.objects.all()
    return StageType.objects.filter(programme_id__in=programme_ids_for(user))


def enrolment_visible_to(user) -> QuerySet[Enrolment]:
    if is_administrator(user):
        return Enrolment.objects.all()
    return Enrolment.objects.filter(case__in=case_visible_to(user).values("id"))


def _partner_stage_filter(agency_id: int, kind: str) -> Q:
    """Stages one agency may see: of a case referred to it as a whole, or the one stage
    referred; in both cases only stages of the kinds the agency works on."""
    referrals = referrals_granting_access(agency_ids=[agency_id])
    allowed = Q(enrolment__case_id__in=referrals.filter(stage__isnull=True).values("case_id")) | Q(
        id__in=referrals.filter(stage__isnull=False).values("stage_id")
    )
    kinds = AGENCY_STAGE_KINDS.get(kind)
    if kinds:
        allowed &= Q(stage_type__kind__in=kinds)
    return allowed


def stage_visible_to(user) -> QuerySet[StageRecord]:
    if is_administrator(user):
        return StageRecord.objects.all()
    allowed = Q(pk__in=[])
    staff_cases = staff_cases_of(user)
    if staff_cases is not None:
        allowed |= Q(enrolment__case_id__in=staff_cases.values("id"))
    for agency_id, kind in partner_agencies_of(user):
        allowed |= _partner_stage_filter(agency_id, kind)
    return StageRecord.objects.filter(allowed)


def follow_up_visible_to(user) -> QuerySet[FollowUp]:
    if is_administrator(user):
        return FollowUp.objects.all()
    return FollowUp.objects.filter(stage_id__in=stage_visible_to(user).values("id"))
