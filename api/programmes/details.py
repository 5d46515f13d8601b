"""Stage details as resources: centre stays, psychological sessions, school placements,
document requests, housing and employment placements.

Rows come from the one visibility registry (``programmes.selectors``: staff by their
programmes' cases, a partner by the stages its accepted referrals' purposes cover);
writes go through ``programmes.details``, which moves the stage where the data says
so; a sensitive field (a housing address, a document's number) is printed to staff
and to a partner referred for its purpose only (``null`` to other partners).
"""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action

from api.base import (
    ALL,
    FORBIDDEN_FIELD_MESSAGE,
    STAFF_ROLES,
    Access,
    RoleAwareSerializer,
    SyncFeedMixin,
    WritableScopedViewSet,
    access_by_role,
    request_role,
)
from api.casework.filters import BoundedDateFilter, IdFilter, UpdatedSinceFilter
from api.policies import RoleAwareFilterSet, field_of
from api.programmes.serializers import StageSerializer
from casework.models import ConsentPurpose, ReceivingRelative
from casework.selectors import receiving_relative_visible_to
from programmes import details, selectors
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    DocumentRequestStatus,
    DocumentType,
    EmploymentPlacement,
    EmploymentPlacementKind,
    EmploymentPlacementOutcome,
    HousingPlacement,
    PsychologicalSession,
    PsychologicalSessionKind,
    RelativeContact,
    SchoolLevel,
    SchoolPlacement,
    TracingMethod,
    TracingOutcome,
)

# --- Serializers -------------------------------------------------------------------


def detail_access(writable: tuple[str, ...]) -> dict:
    """Staff and the partners who see a detail read it all and write the same fields
    (a sensitive one only where the partner is referred for its purpose)."""
    return access_by_role(staff=Access(read=ALL, write=writable), partner=Access(read=ALL, write=writable))


class StageDetailSerializer(RoleAwareSerializer):
    """One detail of one stage. ``sensitive`` maps a field to the referral purpose a
    partner must hold for the detail's case to read or write it."""

    case = serializers.IntegerField(source="stage.enrolment.case_id", read_only=True)
    sensitive: dict[str, str] = {}

    def _referred_cases(self, purpose: str) -> set[int] | None:
        """The cases whose sensitive field of this purpose the caller reads; None: all of them."""
        request = self.context.get("request")
        if request is None or request_role(request) in STAFF_ROLES:
            return None
        cache = request.__dict__.setdefault("_cases_referred_for", {})
        if purpose not in cache:
            cache[purpose] = selectors.case_ids_referred_for(request.user, purpose)
        return cache[purpose]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for field, purpose in self.sensitive.items():
            referred = self._referred_cases(purpose)
            if field in data and referred is not None and instance.stage.enrolment.case_id not in referred:
                data[field] = None
        return data

    def validate(self, attrs):
        attrs = super().validate(attrs)
        stage = attrs.get("stage") or getattr(self.instance, "stage", None)
        refused = {}
        for field, purpose in self.sensitive.items():
            referred = self._referred_cases(purpose)
            if field in attrs and referred is not None and (stage is None or stage.enrolment.case_id not in referred):
                refused[field] = [FORBIDDEN_FIELD_MESSAGE]
        if refused:
            raise serializers.ValidationError(refused)
        return attrs

    def persist(self, instance) -> None:
        details.detail_save(detail=instance, by=self.context["request"].user)


ACCOMMODATION_WRITABLE = ("stage", "centre", "arrived_on", "exited_on")


class AccommodationStaySerializer(StageDetailSerializer):
    class Meta:
        model = AccommodationStay
        fields = ["id", "case", *ACCOMMODATION_WRITABLE, "updated_at"]
        access = detail_access(ACCOMMODATION_WRITABLE)


PSYCHOLOGICAL_WRITABLE = ("stage", "kind", "mode", "held_on", "practitioner", "instrument", "score")


class PsychologicalSessionSerializer(StageDetailSerializer):
    class Meta:
        model = PsychologicalSession
        fields = ["id", "case", *PSYCHOLOGICAL_WRITABLE, "updated_at"]
        access = detail_access(PSYCHOLOGICAL_WRITABLE)


SCHOOL_WRITABLE = ("stage", "institution", "level", "grade", "language_support", "enrolled_on")


class SchoolPlacementSerializer(StageDetailSerializer):
    """A school placement ends through its ``end`` action (the leaving day and why)."""

    class Meta:
        model = SchoolPlacement
        fields = ["id", "case", *SCHOOL_WRITABLE, "left_on", "left_reason", "updated_at"]
        read_only_fields = ["left_on", "left_reason"]
        access = detail_access(SCHOOL_WRITABLE)


DOCUMENT_WRITABLE = ("stage", "document_type", "requested_on", "note")


class DocumentRequestSerializer(StageDetailSerializer):
    """A document request moves by its actions: submit, issue (the day and the number), refuse.
    The number is printed to staff and to an agency referred for documents; ``null`` otherwise."""

    number = serializers.CharField(read_only=True, allow_null=True)
    sensitive = {"number": ConsentPurpose.DOCUMENTS}

    class Meta:
        model = DocumentRequest
        fields = ["id", "case", *DOCUMENT_WRITABLE, "status", "issued_on", "number", "updated_at"]
        read_only_fields = ["status", "issued_on"]
        access = detail_access(DOCUMENT_WRITABLE)
        # A second open request of a type is the constraint's to refuse, in the service.
        validators = []


HOUSING_WRITABLE = (
    "stage",
    "address",
    "settlement",
    "living_with",
    "reunification",
    "moved_in_on",
    "moved_out_on",
)


class ReceivingRelativeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReceivingRelative
        fields = ["id", "name", "relationship", "phone", "address"]
        read_only_fields = fields


class HousingPlacementSerializer(StageDetailSerializer):
    """The address and the family's receiving relatives are printed to staff and to an
    agency referred for housing (``null`` otherwise); the address is written by them only.
    ``relatives_refusing_contact`` counts the case's relatives contacted (``relative-contacts``)
    whose answer is "refuses"."""

    address = serializers.CharField(allow_null=True, max_length=2000)
    relatives_refusing_contact = serializers.IntegerField(
        read_only=True, help_text="Relatives contacted for this stage who refuse contact (from relative-contacts)."
    )
    receiving_relatives = serializers.SerializerMethodField(
        help_text="The relatives receiving the case's family: name, relationship, phone, address."
    )
    sensitive = {"address": ConsentPurpose.HOUSING, "receiving_relatives": ConsentPurpose.HOUSING}

    class Meta:
        model = HousingPlacement
        fields = ["id", "case", *HOUSING_WRITABLE, "relatives_refusing_contact", "receiving_relatives", "updated_at"]
        read_only_fields = ["relatives_refusing_contact"]
        access = detail_access(HOUSING_WRITABLE)

    @extend_schema_field(ReceivingRelativeSerializer(many=True, allow_null=True))
    def get_receiving_relatives(self, instance):
        family = instance.stage.enrolment.case.family
        if family is None:
            return []
        # Which relatives: the one rule of every door (``receiving_relative_visible_to``),
        # read for the whole page by the list's prefetch, or here for one placement.
        relatives = getattr(family, "visible_receiving_relatives", None)
        if relatives is None:
            relatives = receiving_relative_visible_to(self.context["request"].user).filter(family=family)
        return ReceivingRelativeSerializer(relatives, many=True).data

    def to_representation(self, instance):
        if not hasattr(instance, "relatives_refusing_contact"):
            instance.relatives_refusing_contact = RelativeContact.objects.filter(
                stage_id=instance.stage_id, outcome=TracingOutcome.REFUSES
            ).count()
        return super().to_representation(instance)


RELATIVE_CONTACT_WRITABLE = ("stage", "relative_name", "relationship", "method", "contacted_on", "outcome", "reason")


class RelativeContactSerializer(StageDetailSerializer):
    """Family tracing: a relative approached, how, when and what they answered. The
    relative's name is printed to staff and to an agency referred for housing (``null``
    to other partners who see the stage), and written by them only."""

    relative_name = serializers.CharField(allow_null=True, max_length=200)
    sensitive = {"relative_name": ConsentPurpose.HOUSING}

    class Meta:
        model = RelativeContact
        fields = ["id", "case", *RELATIVE_CONTACT_WRITABLE, "updated_at"]
        access = detail_access(RELATIVE_CONTACT_WRITABLE)


EMPLOYMENT_WRITABLE = ("stage", "kind", "organisation", "started_on", "ended_on", "outcome")


class EmploymentPlacementSerializer(StageDetailSerializer):
    class Meta:
        model = EmploymentPlacement
        fields = ["id", "case", *EMPLOYMENT_WRITABLE, "updated_at"]
        access = detail_access(EMPLOYMENT_WRITABLE)


class DocumentIssueSerializer(serializers.Serializer):
    issued_on = serializers.DateField(help_text="Day the document was issued.")
    number = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="The document's number; stored encrypted."
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why; no sensitive details.")


class SchoolPlacementEndSerializer(serializers.Serializer):
    left_on = serializers.DateField(help_text="Day the child left the school.")
    reason = serializers.CharField(max_length=300, help_text="Why the child left; no sensitive details.")


# --- Filters -----------------------------------------------------------------------


def detail_filterset(model, **extra) -> type[RoleAwareFilterSet]:
    """The filters every detail list has (stage, case, programme, the day its work began,
    current or not, changed since), plus ``extra``: name -> (filter, field it reveals)."""
    day = details.day_field(model)
    ended = details.end_field(model)
    filters = {
        "stage": (IdFilter(field_name="stage_id"), "stage"),
        "case": (IdFilter(field_name="stage__enrolment__case_id"), "case"),
        "programme": (
            IdFilter(field_name="stage__enrolment__programme_id"),
            field_of(StageSerializer, "programme"),
        ),
        f"{day}_after": (BoundedDateFilter(field_name=day, lookup_expr="gte", label="On or after"), day),
        f"{day}_before": (BoundedDateFilter(field_name=day, lookup_expr="lte", label="On or before"), day),
        "updated_since": (UpdatedSinceFilter(), "updated_at"),
        **extra,
    }
    if ended is not None:

        def filter_current(queryset, name, value):
            current = Q(**{f"{ended}__isnull": True})
            return queryset.filter(current) if value else queryset.exclude(current)

        filters["current"] = (
            django_filters.BooleanFilter(method=filter_current, label="Not ended (no end date)"),
            ended,
        )
    meta = type("Meta", (), {"model": model, "fields": list(filters), "reveals": {k: v[1] for k, v in filters.items()}})
    attributes = {name: definition[0] for name, definition in filters.items()}
    return type(f"{model.__name__}FilterSet", (RoleAwareFilterSet,), {**attributes, "Meta": meta})


AccommodationStayFilterSet = detail_filterset(AccommodationStay)
PsychologicalSessionFilterSet = detail_filterset(
    PsychologicalSession,
    kind=(django_filters.ChoiceFilter(choices=PsychologicalSessionKind.choices), "kind"),
)
SchoolPlacementFilterSet = detail_filterset(
    SchoolPlacement,
    level=(django_filters.ChoiceFilter(choices=SchoolLevel.choices), "level"),
)
DocumentRequestFilterSet = detail_filterset(
    DocumentRequest,
    status=(django_filters.MultipleChoiceFilter(choices=DocumentRequestStatus.choices), "status"),
    document_type=(django_filters.ChoiceFilter(choices=DocumentType.choices), "document_type"),
)
HousingPlacementFilterSet = detail_filterset(HousingPlacement)
RelativeContactFilterSet = detail_filterset(
    RelativeContact,
    outcome=(django_filters.MultipleChoiceFilter(choices=TracingOutcome.choices), "outcome"),
    method=(django_filters.ChoiceFilter(choices=TracingMethod.choices), "method"),
)
EmploymentPlacementFilterSet = detail_filterset(
    EmploymentPlacement,
    kind=(django_filters.ChoiceFilter(choices=EmploymentPlacementKind.choices), "kind"),
    outcome=(django_filters.ChoiceFilter(choices=EmploymentPlacementOutcome.choices), "outcome"),
)


# --- Views -------------------------------------------------------------------------

IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=False,
    description="The record's ETag as last read; 412 if it has changed since.",
)


class StageDetailViewSet(SyncFeedMixin, WritableScopedViewSet):
    """List, read, record (POST) and edit (PUT/PATCH with If-Match) the details of the
    stages the caller may see; ``changes/`` is the sync feed. Never deleted."""

    def optimise(self, queryset):
        return queryset.select_related("stage__enrolment")

    def _act(self, request, service, body_serializer=None, *, argument: str):
        """An action on one detail: the body checked, then, with the row locked, the
        If-Match (412 if stale), then the service."""
        instance = self.get_object()
        arguments = {}
        if body_serializer is not None:
            body = body_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            arguments = body.validated_data
        with transaction.atomic():
            locked = type(instance).objects.select_for_update().get(pk=instance.pk)
            self.check_if_match(locked, required=False)
            updated = service(**{argument: instance.pk}, by=request.user, **arguments)
        return self.action_response(updated)


def _detail_viewset(model, serializer, filterset, selector, doc: str):
    day = details.day_field(model)
    return type(
        f"{model.__name__}ViewSet",
        (StageDetailViewSet,),
        {
            "__doc__": doc,
            "__module__": __name__,
            "visible_to": selector,
            "serializer_class": serializer,
            "filterset_class": filterset,
            "ordering_fields": [day, "updated_at", "id"],
        },
    )


AccommodationStayViewSet = _detail_viewset(
    AccommodationStay,
    AccommodationStaySerializer,
    AccommodationStayFilterSet,
    selectors.accommodation_stay_visible_to,
    "Stays in a rehabilitation centre. A stay that has begun starts its planned accommodation stage.",
)
PsychologicalSessionViewSet = _detail_viewset(
    PsychologicalSession,
    PsychologicalSessionSerializer,
    PsychologicalSessionFilterSet,
    selectors.psychological_session_visible_to,
    "Psychological sessions and assessments. A session held starts its planned psychological stage.",
)


class HousingPlacementViewSet(StageDetailViewSet):
    """Housing placements. A move-in starts the planned housing stage; the address and the
    receiving relatives are for staff and the agency referred for housing."""

    visible_to = selectors.housing_placement_visible_to
    serializer_class = HousingPlacementSerializer
    filterset_class = HousingPlacementFilterSet
    ordering_fields = ["moved_in_on", "updated_at", "id"]

    def optimise(self, queryset):
        refusing = (
            RelativeContact.objects.filter(stage_id=OuterRef("stage_id"), outcome=TracingOutcome.REFUSES)
            .order_by()
            .values("stage_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .optimise(queryset)
            .select_related("stage__enrolment__case__family")
            .prefetch_related(
                Prefetch(
                    "stage__enrolment__case__family__receiving_relatives",
                    queryset=receiving_relative_visible_to(self.request.user).order_by("pk"),
                    to_attr="visible_receiving_relatives",
                )
            )
            .annotate(relatives_refusing_contact=Coalesce(Subquery(refusing), 0))
        )


RelativeContactViewSet = _detail_viewset(
    RelativeContact,
    RelativeContactSerializer,
    RelativeContactFilterSet,
    selectors.relative_contact_visible_to,
    "Family tracing and reunification: each relative contacted for a returnee (who, relationship, how, "
    "when, outcome and reason), on the housing stage. A contact recorded starts the planned housing stage; "
    "the relative's name is for staff and the agency referred for housing.",
)
EmploymentPlacementViewSet = _detail_viewset(
    EmploymentPlacement,
    EmploymentPlacementSerializer,
    EmploymentPlacementFilterSet,
    selectors.employment_placement_visible_to,
    "Training and jobs. One that has started starts the planned employment stage.",
)


class SchoolPlacementViewSet(StageDetailViewSet):
    """School and kindergarten places. A current placement starts the planned schooling
    stage; a placement ends through ``end`` (the leaving day and why), never by deletion."""

    visible_to = selectors.school_placement_visible_to
    serializer_class = SchoolPlacementSerializer
    filterset_class = SchoolPlacementFilterSet
    ordering_fields = ["enrolled_on", "updated_at", "id"]

    @extend_schema(
        request=SchoolPlacementEndSerializer,
        responses={200: SchoolPlacementSerializer},
        parameters=[IF_MATCH_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """The child left the school. 409 if the placement has already ended."""
        return self._act(request, details.school_placement_end, SchoolPlacementEndSerializer, argument="placement_id")


class DocumentRequestViewSet(StageDetailViewSet):
    """Civil documents requested for a person. A request starts the planned documents
    stage; it moves by its actions (submit, issue, refuse; 409 from any other status), and
    the issue of the last document the stage type requires completes the stage."""

    visible_to = selectors.document_request_visible_to
    serializer_class = DocumentRequestSerializer
    filterset_class = DocumentRequestFilterSet
    ordering_fields = ["requested_on", "updated_at", "id"]

    @extend_schema(request=None, responses={200: DocumentRequestSerializer}, parameters=[IF_MATCH_PARAMETER])
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """requested → submitted to the registry."""
        return self._act(request, details.document_request_submit, argument="request_id")

    @extend_schema(
        request=DocumentIssueSerializer, responses={200: DocumentRequestSerializer}, parameters=[IF_MATCH_PARAMETER]
    )
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        """requested or submitted → issued, with the issue day and the number."""
        return self._act(request, details.document_request_issue, DocumentIssueSerializer, argument="request_id")

    @extend_schema(
        request=ReasonSerializer, responses={200: DocumentRequestSerializer}, parameters=[IF_MATCH_PARAMETER]
    )
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        """requested or submitted → refused, with the reason."""
        return self._act(request, details.document_request_refuse, ReasonSerializer, argument="request_id")
