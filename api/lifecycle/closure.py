"""Closure through the API: a caseworker asks (``POST /cases/{id}/request-closure/``), a
supervisor of the case's programme other than the requester decides
(``POST /closure-requests/{id}/approve/`` or ``reject/``, with a comment). Every rule
(who may ask, who may decide, the comment a rejection needs) is ``lifecycle.closure``'s,
the admin's service too; a decision it refuses answers 409, a case or request the
caller may not see as staff 404.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base import STAFF_ROLES, ALL, Access, RoleAwareSerializer, ScopedViewSet, access_by_role, request_role
from api.casework.filters import IdFilter
from api.policies import RoleAwareFilterSet
from casework.models import ClosureRequest, ClosureRequestStatus
from core.visibility import rows_of
from lifecycle import closure


def closure_request_visible_to(user):
    """The closure requests of the cases the user acts on as staff (the admin's rule)."""
    return rows_of(user, ClosureRequest)


class ClosureRequestSerializer(RoleAwareSerializer):
    class Meta:
        model = ClosureRequest
        fields = [
            "id",
            "case",
            "requested_by",
            "requested_at",
            "reason",
            "status",
            "decided_by",
            "decided_at",
            "comment",
        ]
        read_only_fields = fields
        access = access_by_role(staff=Access(read=ALL), partner=Access())


class ClosureReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, help_text="Why the case should close; no sensitive details.")


class ClosureCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, help_text="The decision's comment (a rejection needs one)."
    )


class ClosureRequestFilterSet(RoleAwareFilterSet):
    case = IdFilter(field_name="case_id")
    status = django_filters.ChoiceFilter(choices=ClosureRequestStatus.choices)

    class Meta:
        model = ClosureRequest
        fields = ["case", "status"]
        reveals = {"case": "case", "status": "status"}


def staff_only(request) -> None:
    if request_role(request) not in STAFF_ROLES:
        raise exceptions.PermissionDenied()


class ClosureRequestViewSet(ScopedViewSet):
    """Closure requests of the caller's cases (staff only; partners see none)."""

    visible_to = closure_request_visible_to
    serializer_class = ClosureRequestSerializer
    filterset_class = ClosureRequestFilterSet
    ordering_fields = ["requested_at", "id"]

    def optimise(self, queryset):
        return queryset.select_related("case")

    def _decide(self, request, *, approve: bool):
        staff_only(request)
        closure_request = self.get_object()
        body = ClosureCommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = closure.case_closure_decide(
            request_id=closure_request.pk,
            by=request.user,
            approve=approve,
            comment=body.validated_data.get("comment", ""),
        )
        return self.action_response(decided)

    @extend_schema(request=ClosureCommentSerializer, responses={200: ClosureRequestSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Close the case (a supervisor of its programme, not the requester; 409 otherwise)."""
        return self._decide(request, approve=True)

    @extend_schema(request=ClosureCommentSerializer, responses={200: ClosureRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Keep the case open, saying why (a supervisor of its programme, not the requester)."""
        return self._decide(request, approve=False)


class RequestClosureMixin:
    """``POST /cases/{id}/request-closure/`` on the case viewset."""

    @extend_schema(request=ClosureReasonSerializer, responses={201: ClosureRequestSerializer})
    @action(detail=True, methods=["post"], url_path="request-closure")
    def request_closure(self, request, pk=None):
        """Ask the programme's supervisors to close the case (staff; 409 if one is pending)."""
        staff_only(request)
        case = self.get_object()
        body = ClosureReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = closure.case_closure_request(case_id=case.pk, by=request.user, reason=body.validated_data["reason"])
        data = ClosureRequestSerializer(created, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)
