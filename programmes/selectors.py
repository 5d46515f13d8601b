"""Reads of programmes and stages that need scoping."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F, Q, QuerySet

from casework.models import AgencyKind, ReferralStatus
from core.roles import is_administrator, programme_ids_for
from casework.selectors import partner_agencies_of, referrals_granting_access, staff_enrolled_condition
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    EmploymentPlacement,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    HousingPlacement,
    Programme,
    PsychologicalSession,
    RelativeContact,
    SchoolPlacement,
    StageKind,
    StageRecord,
    StageType,
)

# What a specialised agency works on: a school sees schooling, not psychology, even
# under a referral for "all rehabilitation services". Agencies of other kinds (UN
# agencies, the Red Cross, NGOs) see whatever their referrals' purposes cover
# (``StageType.referral_purposes``, from the catalogue).
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
    """Staff see the enrolments of their cases; a partner only those holding a stage it
    works on (none while its referral is pending)."""
    if is_administrator(user):
        return Enrolment.objects.all()
    return Enrolment.objects.filter(
        _either(
            staff_enrolled_condition(user, case_path="case"),
            _partner_condition(user, lambda agencies: Q(id__in=_partner_stages(agencies).values("enrolment_id"))),
        )
    )


def _either(*conditions: Q | None) -> Q:
    """The rows any of these conditions allows (None: that role gives nothing); no row
    at all when none does. One role, the usual case, gives its condition alone, which
    the planner can answer with a join rather than a filter on every row."""
    present = [condition for condition in conditions if condition is not None]
    if not present:
        return Q(pk__in=[])
    combined = present[0]
    for extra in present[1:]:
        combined |= extra
    return combined


def _partner_condition(user, condition) -> Q | None:
    agencies = partner_agencies_of(user)
    return condition(agencies) if agencies else None


def _stage_types_by_purpose() -> dict[str, list[tuple[int, str]]]:
    """For each referral purpose, the (id, kind) of the stage types that cover it.

    The catalogues decide (``StageType.referral_purposes``); stage types are few, so
    they are read in one small query rather than joined into every stage scan.
    """
    covered: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for stage_type_id, kind, purposes in StageType.objects.values_list("id", "kind", "referral_purposes"):
        for purpose in purposes or ():
            covered[purpose].append((stage_type_id, kind))
    return covered


def _partner_stages(agencies: list[tuple[int, str]]) -> QuerySet[StageRecord]:
    """Stages a partner may see and act on: for each referral its agencies have
    accepted (and that still grants access), the stages its purpose covers, of the
    case referred as a whole or the one stage referred; and of those only the kinds
    the agency works on. A pending referral shows no stage: the agency has not taken
    the work on yet.
    """
    referral = "enrolment__case__referrals__"
    covers = Q(pk__in=[])
    by_purpose = _stage_types_by_purpose()
    for agency_id, agency_kind in agencies:
        kinds = AGENCY_STAGE_KINDS.get(agency_kind)
        # Purposes that cover the same stage types make one condition.
        purposes_by_stage_types: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for purpose, stage_types in sorted(by_purpose.items()):
            stage_type_ids = tuple(sorted(pk for pk, kind in stage_types if not kinds or kind in kinds))
            if stage_type_ids:
                purposes_by_stage_types[stage_type_ids].append(purpose)
        for stage_type_ids, purposes in purposes_by_stage_types.items():
            covers |= Q(
                **{f"{referral}agency_id": agency_id, f"{referral}purpose__in": purposes},
                stage_type_id__in=stage_type_ids,
            )
    accepted = referrals_granting_access(agency_ids=[agency_id for agency_id, _kind in agencies]).filter(
        status=ReferralStatus.ACCEPTED
    )
    # One filter() call: every condition on the referral applies to the same referral
    # row (one join), so the subquery is the stages of the agency's accepted referrals.
    return StageRecord.objects.filter(
        covers,
        Q(**{f"{referral}stage__isnull": True}) | Q(**{f"{referral}stage": F("pk")}),
        **{f"{referral}in": accepted},
    )


def stage_visible_to(user) -> QuerySet[StageRecord]:
    if is_administrator(user):
        return StageRecord.objects.all()
    return StageRecord.objects.filter(
        _either(
            staff_enrolled_condition(user, case_path="enrolment__case"),
            _partner_condition(user, lambda agencies: Q(id__in=_partner_stages(agencies).values("id"))),
        )
    )


def stage_of_visible_case_visible_to(user, case_ids) -> QuerySet[StageRecord]:
    """``stage_visible_to`` for the stages of cases already known visible to the user (a
    page of their case list): whoever sees a case as staff sees all its stages, so
    only a partner's stages are scoped again, and then only those of these cases (the
    partner's stages of every referral, then narrowed to the page, took most of a
    partner's case list)."""
    stages = StageRecord.objects.filter(enrolment__case_id__in=case_ids)
    agencies = partner_agencies_of(user)
    if not agencies or is_administrator(user):
        return stages
    partner_stages = _partner_stages(agencies).filter(enrolment__case_id__in=case_ids)
    return stages.filter(
        _either(staff_enrolled_condition(user, case_path="enrolment__case"), Q(id__in=partner_stages.values("id")))
    )


def follow_up_visible_to(user) -> QuerySet[FollowUp]:
    """Follow-ups of the stages the user may see: for staff, joined to their case
    directly (stage, enrolment, case) rather than through the list of visible stages."""
    if is_administrator(user):
        return FollowUp.objects.all()
    return FollowUp.objects.filter(
        _either(
            staff_enrolled_condition(user, case_path="stage__enrolment__case"),
            _partner_condition(user, lambda agencies: Q(stage_id__in=_partner_stages(agencies).values("id"))),
        )
    )


def _details_visible_to(model):
    """The details of the stages a user may see (``stage_visible_to``): staff by their
    programmes' cases, joined to the case directly, a partner by the stages its accepted
    referrals' purposes cover."""

    def visible_to(user) -> QuerySet:
        if is_administrator(user):
            return model.objects.all()
        return model.objects.filter(
            _either(
                staff_enrolled_condition(user, case_path="stage__enrolment__case"),
                _partner_condition(user, lambda agencies: Q(stage_id__in=_partner_stages(agencies).values("id"))),
            )
        )

    visible_to.__name__ = f"{model._meta.model_name}_visible_to"
    return visible_to


accommodation_stay_visible_to = _details_visible_to(AccommodationStay)
psychological_session_visible_to = _details_visible_to(PsychologicalSession)
school_placement_visible_to = _details_visible_to(SchoolPlacement)
document_request_visible_to = _details_visible_to(DocumentRequest)
housing_placement_visible_to = _details_visible_to(HousingPlacement)
employment_placement_visible_to = _details_visible_to(EmploymentPlacement)
relative_contact_visible_to = _details_visible_to(RelativeContact)


def case_ids_referred_for(user, purpose: str) -> set[int]:
    """The cases a partner's agencies hold an accepted referral for this purpose for (with
    a current consent): who may read a detail's sensitive field (a housing address, a
    document's number). Empty for a user of no agency."""
    agencies = partner_agencies_of(user)
    if not agencies:
        return set()
    referrals = referrals_granting_access(agency_ids=[agency_id for agency_id, _kind in agencies])
    return set(referrals.filter(status=ReferralStatus.ACCEPTED, purpose=purpose).values_list("case_id", flat=True))


def enrolments_giving_access() -> QuerySet[Enrolment]:
    """The enrolments through which a programme's staff see a case: all but those handed
    over to another programme (``EnrolmentStatus.TRANSFERRED``), whose case the sending
    staff know only from the transfer's record (``lifecycle.transfer``)."""
    return Enrolment.objects.exclude(status=EnrolmentStatus.TRANSFERRED)


def enrolled_case_ids(*, programme_ids=None, caseworker=None) -> QuerySet:
    """Ids of the cases enrolled in these programmes (or, with ``caseworker``, enrolled
    anywhere and assigned to that caseworker), as a subquery: casework's staff scope
    asks this (registered in ``programmes.apps``)."""
    enrolments = Enrolment.objects.all()
    if programme_ids is not None:
        enrolments = enrolments_giving_access().filter(programme_id__in=programme_ids)
    if caseworker is not None:
        enrolments = enrolments.filter(case__caseworker=caseworker)
    return enrolments.values("case_id")
