"""Transfers between programmes through the API: the case's caseworker or a supervisor of its
programme asks (``POST /cases/{id}/request-transfer/``), a supervisor of the receiving
programme accepts or refuses (``POST /transfer-requests/{id}/accept/`` or ``refuse/``).
Every rule is ``lifecycle.transfer``'s, the admin's service too: a refused decision answers
409, a case or request the caller may not see as staff 404, a bad body 400. The sending
programme's staff keep reading the accepted request, with its ``handed_over`` record.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base import ALL, Access, RoleAwareSerializer, ScopedViewSet, access_by_role
from api.casework.filters import IdFilter
from api.lifecycle.closure import staff_only
from api.policies import RoleAwareFilterSet
from lifecycle import transfer
from lifecycle.models import TransferCarryOver, TransferRequest, TransferStatus


class TransferRequestSerializer(RoleAwareSerializer):
    class Meta:
        model = TransferRequest
        fields = [
            "id",
            "case",
            "from_programme",
            "to_programme",
            "requested_by",
            "requested_at",
            "reason",
            "status",
            "carry_over",
            "decided_by",
            "decided_at",
            "comment",
            "handed_over",
        ]
        read_only_fields = fields
        access = access_by_role(staff=Access(read=ALL), partner=Access())


class TransferAskSerializer(serializers.Serializer):
    to_programme = serializers.IntegerField(min_value=1, help_text="The receiving programme (id).")
    reason = serializers.CharField(max_length=5000, help_text="Why the case moves; no sensitive details.")


class TransferAcceptSerializer(serializers.Serializer):
    carry_over = serializers.ChoiceField(
        choices=TransferCarryOver.choices, help_text="Carry the open stages over, or close them and start afresh."
    )
    caseworker = serializers.IntegerField(
        min_value=1, required=False, help_text="Who takes the case over (receiving staff); the caller by default."
    )
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class TransferRefuseSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=5000, help_text="Why the transfer is refused.")


class TransferRequestFilterSet(RoleAwareFilterSet):
    case = IdFilter(field_name="case_id")
    status = django_filters.ChoiceFilter(choices=TransferStatus.choices)

    class Meta:
        model = TransferRequest
        fields = ["case", "status"]
        reveals = {"case": "case", "status": "status"}


class TransferRequestViewSet(ScopedViewSet):
    """Transfer requests to and from the caller's programmes (staff only; partners see none)."""

    visible_to = transfer.transfer_requests_visible_to
    serializer_class = TransferRequestSerializer
    filterset_class = TransferRequestFilterSet
    ordering_fields = ["requested_at", "id"]

    @extend_schema(request=TransferAcceptSerializer, responses={200: TransferRequestSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Take the case over (a supervisor of the receiving programme; 409 otherwise)."""
        staff_only(request)
        transfer_request = self.get_object()
        body = TransferAcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        caseworker = None
        if "caseworker" in body.validated_data:
            caseworker = (
                transfer.receiving_caseworkers(transfer_request).filter(pk=body.validated_data["caseworker"]).first()
            )
            if caseworker is None:
                raise serializers.ValidationError(
                    {"caseworker": ["The caseworker must work in the receiving programme."]}
                )
        decided = transfer.transfer_request_decide(
            request_id=transfer_request.pk,
            by=request.user,
            accept=True,
            carry_over=body.validated_data["carry_over"],
            caseworker=caseworker,
            comment=body.validated_data.get("comment", ""),
        )
        return self.action_response(decided)

    @extend_schema(request=TransferRefuseSerializer, responses={200: TransferRequestSerializer})
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        """Leave the case where it is, saying why (a supervisor of the receiving programme)."""
        staff_only(request)
        transfer_request = self.get_object()
        body = TransferRefuseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = transfer.transfer_request_decide(
            request_id=transfer_request.pk, by=request.user, accept=False, comment=body.validated_data["comment"]
        )
        return self.action_response(decided)


class RequestTransferMixin:
    """``POST /cases/{id}/request-transfer/`` on the case viewset."""

    @extend_schema(request=TransferAskSerializer, responses={201: TransferRequestSerializer})
    @action(detail=True, methods=["post"], url_path="request-transfer")
    def request_transfer(self, request, pk=None):
        """Ask another programme to take the case over (its caseworker or a supervisor of its
        programme; 409 otherwise, or if one is pending)."""
        staff_only(request)
        case = self.get_object()
        body = TransferAskSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = transfer.transfer_request_create(
            case_id=case.pk,
            to_programme_id=body.validated_data["to_programme"],
            by=request.user,
            reason=body.validated_data["reason"],
        )
        data = TransferRequestSerializer(created, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)
