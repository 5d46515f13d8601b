"""Viewsets of the programmes API. Rows come from the selectors; redaction from the serializers;
stage and follow-up changes from ``programmes.workflow``."""

from __future__ import annotations

import re

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action

from api.base import (
    STAFF_ROLES,
    CatalogueViewSet,
    PreconditionFailed,
    ScopedViewSet,
    SyncFeedMixin,
    parse_if_match,
    request_role,
)
from programmes import rules, workflow
from api.programmes.serializers import (
    EnrolmentSerializer,
    FollowUpOutcomeSerializer,
    FollowUpSerializer,
    ProgrammeSerializer,
    StageCompleteSerializer,
    StageReasonSerializer,
    StageSerializer,
    StageStartSerializer,
    StageTypeSerializer,
)
from api.programmes.filters import (
    EnrolmentFilterSet,
    FollowUpFilterSet,
    ProgrammeFilterSet,
    StageFilterSet,
    StageTypeFilterSet,
)
from programmes.models import StageType
from programmes.selectors import (
    enrolment_visible_to,
    follow_up_visible_to,
    programme_visible_to,
    stage_type_visible_to,
    stage_visible_to,
)


class ProgrammeViewSet(CatalogueViewSet):
    """Programmes the caller works in, with their stage catalogue. Administrators create and edit them."""

    visible_to = programme_visible_to
    serializer_class = ProgrammeSerializer
    filterset_class = ProgrammeFilterSet
    ordering_fields = ["name", "code", "id"]

    def optimise(self, queryset):
        return queryset.prefetch_related(
            Prefetch("stage_types", queryset=StageType.objects.filter(is_active=True).order_by("position", "code"))
        )


class StageTypeViewSet(CatalogueViewSet):
    """The stage catalogues of the caller's programmes. Administrators create and edit them."""

    visible_to = stage_type_visible_to
    serializer_class = StageTypeSerializer
    filterset_class = StageTypeFilterSet
    ordering_fields = ["programme", "position", "code", "id"]


class EnrolmentViewSet(ScopedViewSet):
    """Enrolments of the cases the caller may see."""

    visible_to = enrolment_visible_to
    serializer_class = EnrolmentSerializer
    filterset_class = EnrolmentFilterSet
    ordering_fields = ["enrolled_on", "id"]


IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=False,
    description="The stage's ETag as last read; 412 if the stage has changed since.",
)

_STAGE_ETAG = re.compile(r"^(\d+)\.(\d+)$")


class StageViewSet(SyncFeedMixin, ScopedViewSet):
    """Stages of the cases the caller may see (a school sees schooling stages only).

    A stage moves only through its actions. Partners may start, complete,
    block and unblock the stages they see; discontinuing and reopening are
    for programme staff. A transition the current status does not allow
    answers 409; an ``If-Match`` that is no longer current answers 412.
    """

    visible_to = stage_visible_to
    serializer_class = StageSerializer
    filterset_class = StageFilterSet
    ordering_fields = ["due_date", "planned_start", "updated_at", "id"]

    def optimise(self, queryset):
        return rules.with_overdue_flag(queryset.select_related("stage_type", "enrolment__case"))

    def etag_for(self, instance) -> str:
        # The stage's version, so that an If-Match is the version a transition expects.
        return f"{instance.pk}.{instance.version}"

    def _expected_version(self, stage) -> int | None:
        header = self.request.headers.get("If-Match")
        if header is None:
            return None
        for tag in parse_if_match(header):
            if tag == "*":
                return None
            match = _STAGE_ETAG.match(tag)
            if match and int(match.group(1)) == stage.pk:
                return int(match.group(2))
        raise PreconditionFailed()

    def _transition(self, request, service, body_serializer=None, *, staff_only=False):
        stage = self.get_object()
        if staff_only and request_role(request) not in STAFF_ROLES:
            raise exceptions.PermissionDenied()
        expected_version = self._expected_version(stage)
        arguments = {}
        if body_serializer is not None:
            body = body_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            arguments = body.validated_data
        updated = service(stage_id=stage.pk, by=request.user, expected_version=expected_version, **arguments)
        return self.action_response(updated)

    @extend_schema(request=StageStartSerializer, responses={200: StageSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """planned → active."""
        return self._transition(request, workflow.stage_start, StageStartSerializer)

    @extend_schema(request=StageCompleteSerializer, responses={200: StageSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """active → completed, with its outcome."""
        return self._transition(request, workflow.stage_complete, StageCompleteSerializer)

    @extend_schema(request=StageReasonSerializer, responses={200: StageSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def block(self, request, pk=None):
        """planned or active → blocked, with the reason."""
        return self._transition(request, workflow.stage_block, StageReasonSerializer)

    @extend_schema(request=None, responses={200: StageSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def unblock(self, request, pk=None):
        """blocked → active (if it had started) or planned."""
        return self._transition(request, workflow.stage_unblock)

    @extend_schema(request=StageReasonSerializer, responses={200: StageSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def discontinue(self, request, pk=None):
        """planned, active or blocked → discontinued, with the reason. Programme staff only."""
        return self._transition(request, workflow.stage_discontinue, StageReasonSerializer, staff_only=True)

    @extend_schema(request=StageReasonSerializer, responses={200: StageSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """completed or discontinued → active, with the reason. Programme staff only."""
        return self._transition(request, workflow.stage_reopen, StageReasonSerializer, staff_only=True)


class FollowUpViewSet(SyncFeedMixin, ScopedViewSet):
    """Follow-ups on the stages the caller may see."""

    visible_to = follow_up_visible_to
    serializer_class = FollowUpSerializer
    filterset_class = FollowUpFilterSet
    ordering_fields = ["due_date", "updated_at", "id"]

    def optimise(self, queryset):
        return rules.with_overdue_flag(queryset)

    @extend_schema(request=FollowUpOutcomeSerializer, responses={status.HTTP_200_OK: FollowUpSerializer})
    @action(detail=True, methods=["post"], url_path="record-outcome")
    def record_outcome(self, request, pk=None):
        """Record what happened; the next follow-up is scheduled where the stage type says so. 409 if already done."""
        follow_up = self.get_object()
        body = FollowUpOutcomeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        updated = workflow.follow_up_record(follow_up_id=follow_up.pk, by=request.user, **body.validated_data)
        return self.action_response(updated)
