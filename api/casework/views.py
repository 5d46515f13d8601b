"""Viewsets of the casework API. Rows come from the selectors; redaction from the serializers."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.reverse import reverse

from casework import selectors, services
from api.casework.serializers import (
    CASE_COLUMNS,
    CURRENT_STAGE_LIST,
    IDENTIFIER_LIST,
    NAME_LIST,
    SENSITIVE_VISIBLE,
    AgencySerializer,
    CaseAssignSerializer,
    CaseNoteSerializer,
    ConsentSerializer,
    ConsentWithdrawSerializer,
    CaseSerializer,
    FamilySerializer,
    PersonSearchSerializer,
    PersonSerializer,
    ReferralAcceptSerializer,
    ReferralDeclineSerializer,
    ReferralSerializer,
)
from api.casework.filters import (
    AgencyFilterSet,
    CaseFilterSet,
    ConsentFilterSet,
    FamilyFilterSet,
    NoteFilterSet,
    PersonFilterSet,
    ReferralFilterSet,
)
from core.roles import agency_ids_for
from casework.names import name_search_condition
from casework.models import SENSITIVE_NAME_KINDS, Case, FamilyMembership, PersonIdentifier, PersonName
from api.lifecycle.closure import RequestClosureMixin
from api.lifecycle.transfer import RequestTransferMixin
from lifecycle.subject_access import person_export
from api.base import (
    STAFF_ROLES,
    ApiRole,
    CatalogueViewSet,
    CreateMixin,
    EditableScopedViewSet,
    ScopedViewSet,
    SyncFeedMixin,
    request_role,
)
from programmes import rules
from programmes import services as programme_services
from api.programmes.serializers import STAGE_SUMMARY_VALUES
from programmes.models import OPEN_STAGE_STATUSES, Enrolment, EnrolmentStatus
from programmes.selectors import stage_of_visible_case_visible_to


# What PersonSerializer reads of a person (not its search key nor retention stamp).
PERSON_FIELDS = (
    "id",
    "given_name",
    "patronymic",
    "family_name",
    "sex",
    "date_of_birth",
    "date_of_birth_estimated",
    "place_of_birth",
    "nationality",
    "languages",
    "created_at",
    "updated_at",
)


def sensitive_person_ids(persons, request) -> set[int]:
    """The people of a page whose sensitive details the caller may see, in one query."""
    page_ids = {person.pk for person in persons}
    visible = selectors.sensitive_person_visible_to(request.user).filter(pk__in=page_ids)
    return set(visible.values_list("pk", flat=True))


def attach_person_details(persons, request, *, sensitive_ids: set[int] | None = None) -> None:
    """Give each person the names and identifiers that PersonSerializer prints: three
    queries for a whole page, whatever its size (two when no one on it has sensitive
    details the caller may see).

    Plain values rather than prefetched model rows: a model instance and a queryset
    per name were most of the cost of a page of cases. Former names, aliases and
    identifiers are loaded only for the people in ``sensitive_ids`` (by default, those
    of ``casework.selectors.sensitive_person_visible_to``).
    """
    by_id: dict[int, list] = {}
    for person in persons:
        by_id.setdefault(person.pk, []).append(person)
    if sensitive_ids is None:
        sensitive_ids = sensitive_person_ids(persons, request)
    names = {pk: [] for pk in by_id}
    identifiers = {pk: [] for pk in by_id}
    # By person_id, not the models' "person" ordering, which joins and sorts by the
    # people's names for the same order within each person.
    name_rows = (
        PersonName.objects.filter(person_id__in=by_id)
        .filter(~Q(kind__in=SENSITIVE_NAME_KINDS) | Q(person_id__in=sensitive_ids))
        .order_by("person_id", "kind", "script", "id")
    )
    for person_id, full_name, script, kind in name_rows.values_list("person_id", "full_name", "script", "kind"):
        names[person_id].append({"full_name": full_name, "script": script, "kind": kind})
    if sensitive_ids:
        identifier_rows = (
            PersonIdentifier.objects.filter(person_id__in=sensitive_ids)
            .order_by("person_id", "kind", "id")
            .values_list("person_id", "kind", "value", "issuing_country")
        )
        for person_id, kind, value, country in identifier_rows:
            identifiers[person_id].append({"kind": kind, "value": value, "issuing_country": country})
    for pk, same_person in by_id.items():
        for person in same_person:
            setattr(person, NAME_LIST, names[pk])
            setattr(person, IDENTIFIER_LIST, identifiers[pk])
            setattr(person, SENSITIVE_VISIBLE, pk in sensitive_ids)


def attach_sensitive_case_details(cases, request) -> None:
    """Mark each case, and its person, with whether the caller may see their sensitive
    details, by ``casework.selectors``' one rule, in one query for the page; then attach
    the people's names and identifiers accordingly."""
    user = request.user
    case_rule = selectors.sensitive_case_visible_to(user).filter(pk=OuterRef("pk"))
    person_rule = selectors.sensitive_person_visible_to(user).filter(pk=OuterRef("person_id"))
    rows = (
        Case.objects.filter(pk__in={case.pk for case in cases})
        .order_by()
        .annotate(case_visible=Exists(case_rule), person_visible=Exists(person_rule))
        .values_list("pk", "person_id", "case_visible", "person_visible")
    )
    visible_cases, visible_persons = set(), set()
    for case_id, person_id, case_visible, person_visible in rows:
        if case_visible:
            visible_cases.add(case_id)
        if person_visible:
            visible_persons.add(person_id)
    for case in cases:
        setattr(case, SENSITIVE_VISIBLE, case.pk in visible_cases)
    attach_person_details([case.person for case in cases], request, sensitive_ids=visible_persons)


def attach_current_stages(cases, request) -> None:
    """Give each case the open stages of its active enrolments that the caller may see,
    in one query for a whole page: enrolments newest first, then the stage plan's order.
    The cases are the caller's already: staff see all their stages, without scoping
    them again; a partner's are scoped to what its referrals cover.

    The stages are found through their enrolment ids (a subquery): filtered on the
    joined enrolments' cases instead, the planner scans every stage for partners,
    whose scoping it cannot estimate.
    """
    by_id: dict[int, list] = {}
    for case in cases:
        by_id.setdefault(case.pk, []).append(case)
    stages = {pk: [] for pk in by_id}
    active_enrolments = Enrolment.objects.filter(case_id__in=by_id, status=EnrolmentStatus.ACTIVE).values("id")
    rows = (
        rules.with_overdue_flag(stage_of_visible_case_visible_to(request.user, list(by_id)))
        .filter(status__in=OPEN_STAGE_STATUSES, enrolment_id__in=active_enrolments)
        .order_by("-enrolment__enrolled_on", "enrolment_id", "stage_type__position", "id")
        .values_list("enrolment__case_id", *STAGE_SUMMARY_VALUES)
    )
    for case_id, *values in rows:
        stages[case_id].append(values)
    for pk, same_case in by_id.items():
        for case in same_case:
            setattr(case, CURRENT_STAGE_LIST, stages[pk])


class DetailsOnSerializeMixin:
    """Attaches what the serializer prints beside the rows, once per page or object.

    Every answer that carries these rows (list, search, sync feed, detail, the
    fresh copy after an action) builds its serializer here; request bodies do not.
    """

    def attach_details(self, rows: list) -> None:
        raise NotImplementedError

    def get_serializer(self, *args, **kwargs):
        instance = args[0] if args else kwargs.get("instance")
        if instance is not None and "data" not in kwargs:
            rows = list(instance) if kwargs.get("many") else [instance]
            if rows:
                self.attach_details(rows)
        return super().get_serializer(*args, **kwargs)


class PersonViewSet(DetailsOnSerializeMixin, SyncFeedMixin, EditableScopedViewSet):
    """People the caller may see: staff see their cases' people and families, partners the people referred to them."""

    visible_to = selectors.person_visible_to
    serializer_class = PersonSerializer
    filterset_class = PersonFilterSet
    ordering_fields = ["family_name", "given_name", "date_of_birth", "updated_at", "id"]

    def attach_details(self, rows):
        attach_person_details(rows, self.request)

    @extend_schema(
        responses={
            200: PersonSerializer,
            301: OpenApiResponse(
                description=(
                    "The id of a record merged into another: `Location` gives the record kept, "
                    "when the caller may see it (404 otherwise)."
                )
            ),
        }
    )
    def retrieve(self, request, *args, **kwargs):
        # A merged record's old id leads to the record kept (casework.selectors' one rule).
        kept = selectors.person_kept_for(request.user, kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        if kept is not None:
            location = reverse("person-detail", kwargs={"pk": kept.pk}, request=request)
            return Response(status=status.HTTP_301_MOVED_PERMANENTLY, headers={"Location": location})
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=PersonSearchSerializer,
        responses=PersonSerializer(many=True),
        description=(
            "Search people by any of their names or spellings. The name goes in the request body, "
            "never in the URL, so that it stays out of access logs. Former names and aliases are "
            "searched only for the people whose sensitive details the caller may see."
        ),
    )
    @action(detail=False, methods=["post"])
    def search(self, request):
        body = PersonSearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        name = body.validated_data["name"]
        # A match on a former name or alias would tell who bore it: only where the
        # caller may see the person's sensitive details.
        # The same name keys as the admin's search and the duplicate check: any script,
        # either name order, common spelling variants (casework/names.py).
        spelled = Q(full_name__icontains=name)
        key_on_names = name_search_condition(name, "search_key")
        if key_on_names is not None:
            spelled |= key_on_names
        names = PersonName.objects.filter(spelled).filter(
            ~Q(kind__in=SENSITIVE_NAME_KINDS)
            | Q(person_id__in=selectors.sensitive_person_visible_to(request.user).values("pk"))
        )
        matches = (
            Q(given_name__icontains=name)
            | Q(family_name__icontains=name)
            | Q(patronymic__icontains=name)
            | Q(id__in=names.values("person_id"))
        )
        key_on_person = name_search_condition(name, "search_key")
        if key_on_person is not None:
            matches |= key_on_person
        queryset = self.filter_queryset(self.get_queryset()).filter(matches)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={200: OpenApiTypes.OBJECT},
        description=(
            "Subject access (administrators only): everything the system holds about this person, "
            "for a data-protection request, as `python manage.py export_person ID` prints it. "
            "The export is recorded in the audit trail."
        ),
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        person = self.get_object()
        if request_role(request) != ApiRole.ADMINISTRATOR:
            raise exceptions.PermissionDenied()
        return Response(person_export(person=person))


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


class CaseViewSet(
    RequestClosureMixin, RequestTransferMixin, DetailsOnSerializeMixin, SyncFeedMixin, EditableScopedViewSet
):
    """Cases with their person, family and open stages in one answer."""

    visible_to = selectors.case_visible_to
    serializer_class = CaseSerializer
    filterset_class = CaseFilterSet
    ordering_fields = ["reference", "arrival_date", "opened_on", "updated_at", "id"]

    def optimise(self, queryset):
        queryset = queryset.select_related("person", "family")
        if self.request.method in SAFE_METHODS:
            # Reads load only what CaseSerializer prints. Writes keep whole rows, so
            # full_clean() and save() see every field as before.
            queryset = queryset.only(
                *CASE_COLUMNS,
                *(f"person__{name}" for name in PERSON_FIELDS),
                "family__id",
                "family__reference",
                "family__label",
            )
        return queryset

    def attach_details(self, rows):
        attach_sensitive_case_details(rows, self.request)
        attach_current_stages(rows, self.request)

    @extend_schema(request=CaseAssignSerializer, responses={status.HTTP_200_OK: CaseSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Make another member of the case's programmes its caseworker (staff; 400 for anyone
        else); its open stages and follow-ups move with it (``programmes.services.case_assign``)."""
        if request_role(request) not in STAFF_ROLES:
            raise exceptions.PermissionDenied()
        case = self.get_object()
        body = CaseAssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        caseworker_id = body.validated_data["caseworker"]
        caseworker = None
        if caseworker_id is not None:
            caseworker = get_user_model().objects.filter(pk=caseworker_id, is_active=True).first()
            if caseworker is None:
                raise exceptions.ValidationError(
                    {"caseworker": [_("The caseworker must work in one of the case's programmes.")]}
                )
        updated = programme_services.case_assign(case_id=case.pk, caseworker=caseworker, by=request.user)
        return self.action_response(updated)


class ReferralViewSet(CreateMixin, SyncFeedMixin, ScopedViewSet):
    """Referrals of the caller's cases (staff) or to the caller's agency while they are
    active with a current consent (partners; a pending one shows only what the agency
    needs to decide).

    The agency answers with ``accept`` (a reason optional) and ``decline`` (a reason
    required); who answered, when and why are recorded. Staff may mark a referral complete.
    """

    visible_to = selectors.referral_visible_to
    serializer_class = ReferralSerializer
    filterset_class = ReferralFilterSet
    ordering_fields = ["referred_on", "updated_at", "id"]

    def optimise(self, queryset):
        return queryset.select_related("case__person")

    @extend_schema(request=ReferralSerializer, responses={status.HTTP_201_CREATED: ReferralSerializer})
    def create(self, request, *args, **kwargs):
        """Refer a case (or one of its stages) to an agency. Programme staff only (403 for
        partners); 400 unless a current consent of the person covers the agency and the
        purpose. The agency's members are e-mailed a link and a reference, no name."""
        if request_role(request) not in STAFF_ROLES:
            raise exceptions.PermissionDenied()
        return super().create(request, *args, **kwargs)

    def _answer(self, request, service, *, staff_may: bool, body_serializer=None):
        referral = self.get_object()
        is_agency_member = referral.agency_id in agency_ids_for(request.user)
        if not (is_agency_member or (staff_may and request_role(request) in STAFF_ROLES)):
            raise exceptions.PermissionDenied()
        arguments = {}
        if body_serializer is not None:
            body = body_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            arguments = body.validated_data
        updated = service(referral_id=referral.pk, by=request.user, **arguments)
        return self.action_response(updated)

    @extend_schema(request=ReferralAcceptSerializer, responses={status.HTTP_200_OK: ReferralSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """The agency takes the referral on (pending → accepted), with an optional reason;
        from now on it sees the case. Agency members only."""
        return self._answer(
            request, services.referral_accept, staff_may=False, body_serializer=ReferralAcceptSerializer
        )

    @extend_schema(request=ReferralDeclineSerializer, responses={status.HTTP_200_OK: ReferralSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """The agency will not take it (pending → declined) and says why (`reason`, required;
        400 without); it sees nothing of the case. Agency members only."""
        return self._answer(
            request, services.referral_decline, staff_may=False, body_serializer=ReferralDeclineSerializer
        )

    @extend_schema(request=None, responses={status.HTTP_200_OK: ReferralSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """The work is done (accepted → completed); the agency loses access to the case."""
        return self._answer(request, services.referral_complete, staff_may=True)


class StaffCreateMixin(CreateMixin):
    """POST for programme staff only: partners get 403."""

    def create(self, request, *args, **kwargs):
        if request_role(request) not in STAFF_ROLES:
            raise exceptions.PermissionDenied()
        return super().create(request, *args, **kwargs)


class NoteViewSet(StaffCreateMixin, ScopedViewSet):
    """Case notes: programme staff read and add the notes of their cases (partners get
    403 for a new note and see none). Notes are added, never rewritten or deleted."""

    visible_to = selectors.note_visible_to
    serializer_class = CaseNoteSerializer
    filterset_class = NoteFilterSet
    ordering_fields = ["created_at", "id"]


class ConsentViewSet(StaffCreateMixin, ScopedViewSet):
    """Consents of the people of the caller's cases: programme staff record them (a
    child's from a named parent or guardian) and withdraw them; partners get 403 and
    see none. A withdrawal ends the referrals resting on it and tells their agencies."""

    visible_to = selectors.consent_visible_to
    serializer_class = ConsentSerializer
    filterset_class = ConsentFilterSet
    ordering_fields = ["given_on", "id"]

    @extend_schema(request=ConsentWithdrawSerializer, responses={status.HTTP_200_OK: ConsentSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The person (or guardian) takes the consent back; 409 if already withdrawn."""
        if request_role(request) not in STAFF_ROLES:
            raise exceptions.PermissionDenied()
        consent = self.get_object()
        body = ConsentWithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        updated = services.consent_withdraw(consent_id=consent.pk, by=request.user, **body.validated_data)
        return self.action_response(updated)


class AgencyViewSet(CatalogueViewSet):
    """Partner agencies: staff see all, a partner its own; administrators edit them."""

    visible_to = selectors.agency_visible_to
    serializer_class = AgencySerializer
    filterset_class = AgencyFilterSet
    ordering_fields = ["name", "code", "id"]
