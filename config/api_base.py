"""What every API endpoint shares: the caller's role, field-level access, ETags and
If-Match, the body size limit, no-store answers, and the one exception handler that
maps domain errors to HTTP. (Authentication, pagination and throttling classes,
which settings name, live in ``config.api_policies``.)

Viewsets stay a few lines each (``queryset`` from a selector, a serializer, a
filterset); everything that must hold for every route lives here once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError
from django.http import Http404, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from audit.reads import is_read_audited, record_reads
from casework.errors import StaleVersion, TransitionNotAllowed
from casework.roles import is_administrator, programme_ids_for
from config.api_policies import SyncCursorPagination

# --- Roles ----------------------------------------------------------------------


class ApiRole(StrEnum):
    ADMINISTRATOR = "administrator"
    SUPERVISOR = "supervisor"
    CASEWORKER = "caseworker"
    PARTNER = "partner"


STAFF_ROLES = (ApiRole.ADMINISTRATOR, ApiRole.SUPERVISOR, ApiRole.CASEWORKER)


def api_role_for(user) -> ApiRole | None:
    """The role whose field set applies to the caller.

    Staff roles win over agency membership. A signed-in user with no role at
    all gets the partner field set, the narrowest, and the selectors give
    them no rows anyway.
    """
    if not user.is_authenticated or not user.is_active:
        return None
    if is_administrator(user):
        return ApiRole.ADMINISTRATOR
    from programmes.models import ProgrammeMembershipRole

    if programme_ids_for(user, role=ProgrammeMembershipRole.SUPERVISOR):
        return ApiRole.SUPERVISOR
    if programme_ids_for(user):
        return ApiRole.CASEWORKER
    return ApiRole.PARTNER


def request_role(request) -> ApiRole | None:
    if request is None:
        return None
    if not hasattr(request, "_api_role"):
        request._api_role = api_role_for(request.user)
    return request._api_role


def is_partner_request(request) -> bool:
    return request_role(request) == ApiRole.PARTNER


# --- Field-level access ---------------------------------------------------------

ALL = "__all__"


@dataclass(frozen=True)
class Access:
    """The fields one role may read and write on one resource."""

    read: tuple[str, ...] | str = ()
    write: tuple[str, ...] = ()


def access_by_role(*, staff: Access, partner: Access, administrator: Access | None = None) -> dict[ApiRole, Access]:
    """The usual shape: staff roles alike (administrators may get more), partners narrower."""
    return {
        ApiRole.ADMINISTRATOR: administrator or staff,
        ApiRole.SUPERVISOR: staff,
        ApiRole.CASEWORKER: staff,
        ApiRole.PARTNER: partner,
    }


FORBIDDEN_FIELD_MESSAGE = _("You may not write this field.")


class RoleAwareSerializer(serializers.ModelSerializer):
    """A model serializer whose readable and writable fields depend on the caller's role.

    Each subclass declares ``Meta.access``: a mapping role -> ``Access``. That
    mapping is the single place where a resource's redaction is decided; the
    OpenAPI schema prints it (see ``config.api_schema``). Fields a role may not
    read are removed from the representation; a request body naming a field
    the role may not write is refused with 400 and nothing is saved.
    """

    def _role(self) -> ApiRole | None:
        return request_role(self.context.get("request"))

    @classmethod
    def access_for(cls, role: ApiRole) -> Access:
        return cls.Meta.access.get(role, Access())

    def readable_fields_for(self, role: ApiRole, names) -> set[str]:
        read = self.access_for(role).read
        return set(names) if read == ALL else set(read)

    def get_fields(self):
        fields = super().get_fields()
        role = self._role()
        if role is None:
            # Schema generation and other request-less uses see the union.
            return fields
        readable = self.readable_fields_for(role, fields)
        writable = set(self.access_for(role).write)
        for name in list(fields):
            if name not in readable:
                del fields[name]
            elif name not in writable and not fields[name].read_only:
                fields[name].read_only = True
                fields[name].required = False
        return fields

    def to_internal_value(self, data):
        role = self._role()
        if role is not None and isinstance(data, dict):
            writable = set(self.access_for(role).write)
            forbidden = sorted(str(key) for key in data if key not in writable)
            if forbidden:
                raise serializers.ValidationError({key: [FORBIDDEN_FIELD_MESSAGE] for key in forbidden})
        return super().to_internal_value(data)

    def _clean_and_save(self, instance, validated_data):
        # The model's own validation (clean() and constraints) decides, as in the admin.
        for field, value in validated_data.items():
            setattr(instance, field, value)
        instance.full_clean()
        instance.save()
        return instance

    def update(self, instance, validated_data):
        return self._clean_and_save(instance, validated_data)

    def create(self, validated_data):
        return self._clean_and_save(self.Meta.model(), validated_data)


# --- Errors ---------------------------------------------------------------------


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The resource has changed since you loaded it; reload it and try again.")
    default_code = "stale_version"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = _("Send the ETag you last read in an If-Match header.")
    default_code = "if_match_required"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the current state of the resource.")
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


def _django_validation_errors(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _submitted_strings(request) -> set[str]:
    """Every string value of the request body (a name, a number...), to keep them out of error bodies."""
    found: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.strip():
            found.add(value)

    try:
        walk(getattr(request, "data", None))
    except Exception:  # an unparsable body has no values to hide; its parse error says so
        pass
    return found


def _without_submitted_values(errors, values: set[str]):
    """DRF's messages quote what was sent ('"X" is not a valid choice.'): replace the quote."""
    if isinstance(errors, dict):
        return {key: _without_submitted_values(item, values) for key, item in errors.items()}
    if isinstance(errors, list):
        return [_without_submitted_values(item, values) for item in errors]
    if isinstance(errors, str) and values:
        text = errors
        for value in sorted(values, key=len, reverse=True):
            text = text.replace(f'"{value}"', '"…"')
        return type(errors)(text) if not hasattr(errors, "code") else exceptions.ErrorDetail(text, errors.code)
    return errors


def exception_handler(exc, context):
    """The one place where errors become HTTP answers.

    Bodies carry a fixed message, a code and, for 400, field errors: never the
    submitted values, so no personal data ends up in error bodies or logs.
    """
    if isinstance(exc, TransitionNotAllowed):
        exc = Conflict(detail=str(exc), code="transition_not_allowed")
    elif isinstance(exc, StaleVersion):
        exc = PreconditionFailed(detail=str(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (IntegrityError, ProtectedError)):
        exc = Conflict()
    elif isinstance(exc, DjangoValidationError):
        exc = serializers.ValidationError(_django_validation_errors(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, exceptions.ParseError):
        # The parser's message can quote the body.
        exc = exceptions.ParseError(detail=_("Malformed request body."))

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        errors = _without_submitted_values(errors, _submitted_strings(context.get("request")))
        response.data = {"detail": str(_("Invalid input.")), "code": "invalid", "errors": errors}
    else:
        detail = getattr(exc, "detail", "")
        code = detail.code if hasattr(detail, "code") else getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "code": code}
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """A JSON 404 for any path under /api/ that no route matches."""
    return JsonResponse({"detail": str(exceptions.NotFound.default_detail), "code": "not_found"}, status=404)


class NoStoreMiddleware:
    """Every API answer may carry personal data: no cache may keep it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, " + response["Cache-Control"]
        return response


# --- Permissions ----------------------------------------------------------------


class IsAdministratorOrReadOnly(permissions.BasePermission):
    """Catalogues (programmes, stage types, agencies) are read by all and edited by administrators."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return request_role(request) == ApiRole.ADMINISTRATOR


# --- ETags ----------------------------------------------------------------------

_ETAG_RE = re.compile(r'^(?:W/)?"([^"]*)"$')
MAX_ID = 2**63 - 1


def parse_if_match(header: str) -> list[str]:
    """The entity tags of an If-Match header, without quotes ("*" stays "*")."""
    tags = []
    for part in header.split(","):
        part = part.strip()
        if part == "*":
            tags.append("*")
            continue
        match = _ETAG_RE.match(part)
        if match:
            tags.append(match.group(1))
    return tags


# --- Views ----------------------------------------------------------------------


class ApiViewMixin:
    """Body size limit, role on the request, no DELETE anywhere."""

    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def initial(self, request, *args, **kwargs):
        # Refuse before anything reads the body.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_REQUEST_BODY_BYTES:
            raise PayloadTooLarge()
        # Throttle before answering a bad token, so guessing tokens costs the
        # anonymous budget; DRF would check permissions (401) first.
        try:
            self.perform_authentication(request)
        finally:
            self.check_throttles(request)
        super().initial(request, *args, **kwargs)

    def check_throttles(self, request):
        if getattr(request, "_throttles_checked", False):
            return
        request._throttles_checked = True
        super().check_throttles(request)


class ScopedViewSet(ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A read-only viewset whose rows come from one selector and whose detail answers carry an ETag.

    Subclasses set ``visible_to`` (a selector ``f(user) -> QuerySet``) and
    may override ``optimise(queryset)`` to prefetch what their serializer reads.
    Objects outside the selector answer 404, whether or not they exist.
    """

    visible_to = None

    def optimise(self, queryset):
        return queryset

    def get_queryset(self):
        queryset = type(self).visible_to(self.request.user)
        return self.optimise(queryset)

    def get_object(self):
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        if not re.fullmatch(r"[0-9]{1,19}", str(lookup)) or int(lookup) > MAX_ID:
            raise exceptions.NotFound()
        return super().get_object()

    # ETags: opaque to clients; derived from what changes on every write.
    def etag_for(self, instance) -> str:
        label = instance._meta.label_lower
        if getattr(instance, "updated_at", None) is not None:
            basis = f"{label}:{instance.pk}:{instance.updated_at.isoformat()}:{getattr(instance, 'version', '')}"
        else:
            data = self.get_serializer(instance).data
            basis = f"{label}:{instance.pk}:" + json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(basis.encode()).hexdigest()[:32]

    def with_etag(self, response: Response, instance) -> Response:
        response["ETag"] = f'"{self.etag_for(instance)}"'
        return response

    def check_if_match(self, instance, *, required: bool) -> None:
        header = self.request.headers.get("If-Match")
        if header is None:
            if required:
                raise PreconditionRequired()
            return
        tags = parse_if_match(header)
        if "*" not in tags and self.etag_for(instance) not in tags:
            raise PreconditionFailed()

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        record_reads([instance], detail=True)
        return self.with_etag(Response(self.get_serializer(instance).data), instance)

    def paginate_queryset(self, queryset):
        # Every list, search and sync feed pages through here: the audit trail
        # records exactly the rows returned.
        page = super().paginate_queryset(queryset)
        if page is not None and is_read_audited(queryset.model):
            record_reads(page)
        return page

    def action_response(self, instance) -> Response:
        """The fresh representation after an action, read back through the scoped queryset."""
        fresh = self.get_queryset().filter(pk=instance.pk).first()
        if fresh is None:
            # The action ended the caller's access (e.g. declining a referral).
            return Response(self.get_serializer(instance).data)
        return self.with_etag(Response(self.get_serializer(fresh).data), fresh)


class EditableScopedViewSet(mixins.UpdateModelMixin, ScopedViewSet):
    """Adds PUT/PATCH guarded by If-Match: an edit based on a stale read answers 412."""

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        with transaction.atomic():
            instance = self.get_object()
            # Lock the row so the version check and the write are one step.
            list(type(instance).objects.select_for_update().filter(pk=instance.pk).values_list("pk", flat=True))
            instance.refresh_from_db()
            self.check_if_match(instance, required=True)
            serializer = self.get_serializer(instance, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            serializer.save()
        return self.action_response(instance)


class CatalogueViewSet(mixins.CreateModelMixin, EditableScopedViewSet):
    """Read by every role that may see the rows, created and edited by administrators."""

    permission_classes = [permissions.IsAuthenticated, IsAdministratorOrReadOnly]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            instance = serializer.save()
        response = self.action_response(instance)
        response.status_code = status.HTTP_201_CREATED
        return response


class SyncFeedMixin:
    """``GET .../changes/?updated_since=...``: what changed, oldest first, resumable by cursor.

    Sync clients keep the ``next`` link and follow it later; rows written in
    between still come, because the cursor walks ``updated_at``.
    """

    @action(
        detail=False,
        methods=["get"],
        pagination_class=SyncCursorPagination,
        filter_backends=[DjangoFilterBackend],
    )
    def changes(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
