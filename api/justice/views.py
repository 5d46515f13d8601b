"""Viewsets of the justice track. Rows come from ``justice.selectors`` (the one rule the
admin uses too); writes go through ``justice.services``; reads are audited."""

from __future__ import annotations

from rest_framework import mixins, permissions, status

from api.base import ApiRole, EditableScopedViewSet, request_role
from api.justice.filters import CourtHearingFilterSet, LegalProceedingFilterSet
from api.justice.serializers import CourtHearingSerializer, LegalProceedingSerializer
from justice import selectors


class RecordsProceedings(permissions.BasePermission):
    """Everyone the rule lets see a proceeding reads it; only administrators, supervisors and
    legal officers record one (a partner referred for legal aid reads only)."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return request_role(request) != ApiRole.PARTNER and selectors.may_record_proceedings(request.user)


class JusticeViewSet(mixins.CreateModelMixin, EditableScopedViewSet):
    permission_classes = [permissions.IsAuthenticated, RecordsProceedings]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = serializer.save()
        response = self.action_response(instance)
        response.status_code = status.HTTP_201_CREATED
        return response


class LegalProceedingViewSet(JusticeViewSet):
    """A person's legal proceedings: investigation, charges, verdict, sentence, custody, release
    and post-release conditions. Administrators, the programme's supervisors and legal officers
    read and record them; a partner agency reads them (without the charges) only under an
    accepted referral for legal aid. Edits need ``If-Match``; a release, once recorded, stays."""

    visible_to = selectors.proceeding_visible_to
    serializer_class = LegalProceedingSerializer
    filterset_class = LegalProceedingFilterSet
    ordering_fields = ["opened_on", "expected_release_on", "id"]


class CourtHearingViewSet(JusticeViewSet):
    """The hearings of the proceedings the caller may see (a partner without their notes)."""

    visible_to = selectors.hearing_visible_to
    serializer_class = CourtHearingSerializer
    filterset_class = CourtHearingFilterSet
    ordering_fields = ["held_on", "id"]
