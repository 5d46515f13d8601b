"""``POST /api/v1/arrivals/``: staff register an arriving family through the one
intake service, ``lifecycle.intake.arrivals_register``, as the admin's "Register
arrivals" page does."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.response import Response

from api.base import STAFF_ROLES, ApiViewMixin, request_role
from api.parsers import SafeJSONParser
from api.lifecycle.serializers import (
    ArrivalSerializer,
    PossibleDuplicatesSerializer,
    RegistrationSerializer,
)
from api.schema import ErrorSerializer, ValidationErrorSerializer
from audit.reads import record_reads
from casework.duplicates import candidates_seen_by
from casework.models import RepatriationOperation
from lifecycle.intake import Household, MemberInput, PossibleDuplicates, arrivals_register
from programmes.models import Programme


class IsStaff(permissions.BasePermission):
    """Administrators, supervisors and caseworkers; partner agencies get 403."""

    def has_permission(self, request, view):
        return request_role(request) in STAFF_ROLES


def dotted_errors(errors, name: str = "") -> dict[str, list]:
    """DRF's nested errors as the service keys them: ``{"members": [{}, {"age": [...]}]}``
    becomes ``{"members.1.age": [...]}``."""
    flat: dict[str, list] = {}

    def add(key: str, messages: list) -> None:
        flat.setdefault(key or "non_field_errors", []).extend(messages)

    if isinstance(errors, dict):
        for key, value in errors.items():
            key = str(key)
            child = name if key == "non_field_errors" and name else (f"{name}.{key}" if name else key)
            for inner, messages in dotted_errors(value, child).items():
                add(inner, messages)
    elif isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        if errors:
            add(name, list(errors))
    elif isinstance(errors, list):
        for index, item in enumerate(errors):
            for inner, messages in dotted_errors(item, f"{name}.{index}" if name else str(index)).items():
                add(inner, messages)
    else:
        add(name, [errors])
    return flat


ARRIVAL_EXAMPLE = {
    "programme": 1,
    "operation": 1,
    "arrival_date": "2026-11-28",
    "relative_name": "Aigul Exampleva",
    "relative_phone": "+7 700 000 0000",
    "members": [
        {
            "given_name": "Zarina",
            "family_name": "Exampleva",
            "other_spellings": ["Зарина Экзамплева"],
            "sex": "female",
            "date_of_birth": "1993-04-12",
            "relationship": "head",
            "nationality": "KZ",
            "languages": ["kk", "ru"],
        },
        {"given_name": "Amina", "family_name": "Exampleva", "sex": "female", "age": 7, "relationship": "child"},
    ],
}


class ArrivalViewSet(ApiViewMixin, viewsets.GenericViewSet):
    """Register an arriving family: its people, the family, a case per member and each
    case's enrolment with its stage plan, in one transaction. Staff only."""

    serializer_class = ArrivalSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaff]
    # A family with its members is JSON; forms cannot nest them.
    parser_classes = [SafeJSONParser]
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        operation_id="arrivals_create",
        request=ArrivalSerializer,
        responses={
            201: RegistrationSerializer,
            400: OpenApiResponse(
                ValidationErrorSerializer,
                description=(
                    "Invalid input, nothing saved: field errors keyed like the service's "
                    "(`members.2.age`, `members.0.decision`, `arrival_date`); never quoting what was sent."
                ),
            ),
            403: OpenApiResponse(ErrorSerializer, description="Partner agencies: staff only."),
            404: OpenApiResponse(
                ErrorSerializer,
                description="A programme or operation that does not exist or that the caller may not pick.",
            ),
            409: OpenApiResponse(
                PossibleDuplicatesSerializer,
                description=(
                    "Some members may already be on file (or are typed twice): nothing saved. "
                    "The candidates are people the caller may see. Send the same body again with `decisions`."
                ),
            ),
        },
        examples=[OpenApiExample("A mother and her daughter (fictional)", value=ARRIVAL_EXAMPLE, request_only=True)],
        description=(
            "Staff only (administrators, supervisors, caseworkers); partner agencies get 403. "
            'Registers an arriving family through the same service as the admin\'s "Register arrivals" '
            "page: each member as a person (or the person on file they were decided to be), the family, "
            "a case per member with its reference, the registering caseworker as the cases' caseworker "
            "when they work in the programme, and each case's enrolment with its stage plan.\n\n"
            "The duplicate check runs first, against the people the caller may see and the other "
            "members: any candidate answers 409 with the candidates and nothing is written; the same "
            'body with `decisions` (`{"<member index>": "different" | <person id>}`) then registers. '
            "The answer gives ids and references only."
        ),
    )
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        if not body.is_valid():
            raise serializers.ValidationError(dotted_errors(body.errors))
        data = body.validated_data
        # A missing row answers as one the caller may not pick (the service's NotVisible): 404.
        programme = Programme.objects.filter(pk=data["programme"]).first()
        if programme is None:
            raise exceptions.NotFound()
        operation = None
        if data["operation"] is not None:
            operation = RepatriationOperation.objects.filter(pk=data["operation"]).first()
            if operation is None:
                raise exceptions.NotFound()
        household = Household(
            programme=programme,
            operation=operation,
            arrival_date=data["arrival_date"],
            relative_name=data["relative_name"],
            relative_phone=data["relative_phone"],
            relative_address=data["relative_address"],
            relative_relationship=data["relative_relationship"],
            members=[MemberInput(**member) for member in data["members"]],
        )
        try:
            # NotVisible (404) and ValidationError (400) are answered by api.base's handler.
            registration = arrivals_register(household=household, by=request.user, decisions=data["decisions"])
        except PossibleDuplicates as exc:
            return Response(
                {
                    "detail": str(exc),
                    "code": "possible_duplicates",
                    "candidates": self._candidates(exc.candidates),
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(self._registered(registration), status=status.HTTP_201_CREATED)

    @staticmethod
    def _registered(registration) -> dict:
        members = [
            {
                "index": index,
                "person": registration.person_of(index).pk,
                "case": registration.case_of(index).pk,
                "reference": registration.case_of(index).reference,
            }
            for index in sorted(registration.members)
        ]
        return {
            "family": registration.family.pk,
            "family_reference": registration.family.reference,
            "members": members,
        }

    def _candidates(self, candidates) -> dict[str, list[dict]]:
        """Each flagged member's candidates, only among the people the caller may see (the
        service already looks only there: checked again, as every answer is), with what
        tells them apart: birth year and the case and family references the caller may see."""
        seen = candidates_seen_by(self.request.user, (c.person_id for found in candidates.values() for c in found))
        answer: dict[str, list[dict]] = {}
        for index, found in sorted(candidates.items()):
            rows = []
            for candidate in found:
                common = {"score": candidate.score, "reasons": list(candidate.reasons)}
                if candidate.person_id is None:
                    rows.append({"member": candidate.member, **common})
                    continue
                shown = seen.get(candidate.person_id)
                if shown is None:
                    continue
                born = shown.person.date_of_birth
                rows.append(
                    {
                        "person": shown.person.pk,
                        **common,
                        "birth_year": born.year if born else None,
                        "birth_year_estimated": bool(shown.person.date_of_birth_estimated),
                        "reference": shown.case_reference,
                        "family_reference": shown.family_reference,
                    }
                )
            answer[str(index)] = rows
        # The people shown are read like any list's rows: the audit trail records them.
        record_reads([shown.person for shown in seen.values()])
        return answer
