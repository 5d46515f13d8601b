"""Viewsets of the casework API. Rows come from the selectors; redaction from the serializers."""

from __future__ import annotations

from django.db.models import Prefetch, Q
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action

from casework import selectors, services
from casework.api.serializers import (
    AgencySerializer,
    CaseSerializer,
    FamilySerializer,
    PersonSearchSerializer,
    PersonSerializer,
    ReferralSerializer,
)
from casework.filters import AgencyFilterSet, CaseFilterSet, FamilyFilterSet, PersonFilterSet, ReferralFilterSet
from casework.models import SENSITIVE_NAME_KINDS, FamilyMembership, PersonName
from config.api_base import (
    STAFF_ROLES,
    CatalogueViewSet,
    EditableScopedViewSet,
    ScopedViewSet,
    SyncFeedMixin,
    is_partner_request,
    request_role,
)
from programmes.models import OPEN_STAGE_STATUSES, Enrolment, EnrolmentStatus
from programmes.selectors import stage_visible_to


def person_prefetches(request, prefix: str = "") -> list:
    """What PersonSerializer reads; partners' querysets never load sensitive names or identifiers."""
    names = PersonName.objects.all()
    if is_partner_request(request):
        return [Prefetch(f"{prefix}names", queryset=names.exclude(kind__in=SENSITIVE_NAME_KINDS))]
    return [Prefetch(f"{prefix}names", queryset=names), f"{prefix}identifiers"]


class PersonViewSet(SyncFeedMixin, EditableScopedViewSet):
    """People the caller may see: staff see their cases' people and families, partners the people referred to them."""

    visible_to = selectors.person_visible_to
    serializer_class = PersonSerializer
    filterset_class = PersonFilterSet
    ordering_fields = ["family_name", "given_name", "date_of_birth", "updated_at", "id"]

    def optimise(self, queryset):
        return queryset.prefetch_related(*person_prefetches(self.request))

    @extend_schema(
        request=PersonSearchSerializer,
        responses=PersonSerializer(many=True),
        description=(
            "Search people by any of their names or spellings. The name goes in the request body, "
            "never in the URL, so that it stays out of access logs. Former names and aliases are "
            "searched only for staff."
        ),
    )
    @action(detail=False, methods=["post"])
    def search(self, request):
        body = PersonSearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["name"]
        names = PersonName.objects.filter(full_name__icontains=name)
        if is_partner_request(request):
            names = names.exclude(kind__in=SENSITIVE_NAME_KINDS)
        matches = (
            Q(given_name__icontains=name)
            | Q(family_name__icontains=name)
            | Q(patronymic__icontains=name)
            | Q(id__in=names.values("person_id"))
        )
        queryset = self.filter_queryset(self.get_queryset()).filter(matches)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class FamilyViewSet(SyncFeedMixin, ScopedViewSet):
    """Households of the caller's cases, with members. Staff only: partners see the referred person alone."""

    visible_to = selectors.family_visible_to
    serializer_class = FamilySerializer
    filterset_class = FamilyFilterSet
    ordering_fields = ["reference", "updated_at", "id"]

    def optimise(self, queryset):
        return queryset.prefetch_related(
            Prefetch("memberships", queryset=FamilyMembership.objects.select_related("person"))
        )


class CaseViewSet(SyncFeedMixin, EditableScopedViewSet):
    """Cases with their person, family and open stages in one answer."""

    visible_to = selectors.case_visible_to
    serializer_class = CaseSerializer
    filterset_class = CaseFilterSet
    ordering_fields = ["reference", "arrival_date", "opened_on", "updated_at", "id"]

    def optimise(self, queryset):
        stages = (
            stage_visible_to(self.request.user)
            .filter(status__in=OPEN_STAGE_STATUSES)
            .select_related("stage_type")
            .order_by("stage_type__position", "id")
        )
        enrolments = Enrolment.objects.filter(status=EnrolmentStatus.ACTIVE).prefetch_related(
            Prefetch("stages", queryset=stages, to_attr="current_stage_list")
        )
        return queryset.select_related("person", "family").prefetch_related(
            *person_prefetches(self.request, prefix="person__"),
            Prefetch("enrolments", queryset=enrolments, to_attr="active_enrolments"),
        )


class ReferralViewSet(SyncFeedMixin, ScopedViewSet):
    """Referrals of the caller's cases (staff) or to the caller's agency while they grant access (partners).

    The agency answers with ``accept``, ``decline`` and ``complete``; staff may
    mark a referral complete.
    """

    visible_to = selectors.referral_visible_to
    serializer_class = ReferralSerializer
    filterset_class = ReferralFilterSet
    ordering_fields = ["referred_on", "updated_at", "id"]

    def optimise(self, queryset):
        return queryset.select_related("case")

    def _answer(self, request, service, *, staff_may: bool):
        referral = self.get_object()
        is_agency_member = request.user.agencies.filter(pk=referral.agency_id, is_active=True).exists()
        if not (is_agency_member or (staff_may and request_role(request) in STAFF_ROLES)):
            raise exceptions.PermissionDenied()
        updated = service(referral_id=referral.pk, by=request.user)
        return self.action_response(updated)

    @extend_schema(request=None, responses={status.HTTP_200_OK: ReferralSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """The agency takes the referral on (pending → accepted). Agency members only."""
        return self._answer(request, services.referral_accept, staff_may=False)

    @extend_schema(request=None, responses={status.HTTP_200_OK: ReferralSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """The agency will not take it (pending → declined) and loses access to the case. Agency members only."""
        return self._answer(request, services.referral_decline, staff_may=False)

    @extend_schema(request=None, responses={status.HTTP_200_OK: ReferralSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """The work is done (accepted → completed); the agency loses access to the case."""
        return self._answer(request, services.referral_complete, staff_may=True)


class AgencyViewSet(CatalogueViewSet):
    """Partner agencies: staff see all, a partner its own; administrators edit them."""

    visible_to = selectors.agency_visible_to
    serializer_class = AgencySerializer
    filterset_class = AgencyFilterSet
    ordering_fields = ["name", "code", "id"]
