"""What every API endpoint shares: the caller's role, field-level access, ETags and
If-Match, the body size limit, no-store answers, and the one exception handler that
maps domain errors to HTTP. (Authentication, pagination and throttling classes,
which settings name, live in ``api.policies``.)

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

from audit.reads import is_read_audited, record_reads, record_refused_read
from core.errors import NotVisible, StaleVersion, TransitionNotAllowed
from core import roles
from core.visibility import rows_for_field
from core.roles import is_administrator, programme_ids_for
from api.policies import SyncCursorPagination

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
    if programme_ids_for(user, role=roles.SUPERVISOR):
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
    OpenAPI schema prints it (see ``api.schema``). Fields a role may not
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
            else:
                self._scope_related_field(name, fields[name])
        return fields

    def _scope_related_field(self, name: str, field) -> None:
        """A writable foreign key accepts only the rows the caller may pick: the same rule
        (``casework.visibility``) as every admin form; another row answers like a missing one."""
        if field.read_only:
            return
        related = field.child_relation if isinstance(field, serializers.ManyRelatedField) else field
        if not isinstance(related, serializers.RelatedField) or related.queryset is None:
            return
        # Fields are not bound yet: their source is the declared one, or their name.
        model_field = self.Meta.model._meta.get_field(field.source or name)
        allowed = rows_for_field(self.context["request"].user, model_field)
        if allowed is not None:
            related.queryset = allowed

    def to_internal_value(self, data):
        role = self._role()
        if role is not None and isinstance(data, dict):
            writable = set(self.access_for(role).write)
            forbidden = sorted(str(key) for key in data if key not in writable)
            if forbidden:
                raise serializers.ValidationError({key: [FORBIDDEN_FIELD_MESSAGE] for key in forbidden})
        return super().to_internal_value(data)

    def _clean_and_save(self, instance, validated_data):
        # An edit that changes nothing writes nothing: no save, no new updated_at, no audit entry.
        unchanged = instance.pk is not None and all(
            getattr(instance, field) == value for field, value in validated_data.items()
        )
        if not unchanged:
            for field, value in validated_data.items():
                setattr(instance, field, value)
            # The model's own validation (clean() and constraints) decides, as in the admin.
            instance.full_clean()
        # The caller's last check before writing (the view's If-Match): after the input
        # was found valid, so that bad input answers 400 whatever version it was based on.
        before_write = self.context.get("before_write")
        if before_write is not None:
            before_write()
        if not unchanged:
            self.persist(instance)
        return instance

    def persist(self, instance) -> None:
        """Write the validated row; a resource whose writes go through a service says so here."""
        instance.save()

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
    """Every value the caller sent, in the body or the query string (a name, a number...),
    as sent and as a form field would have cleaned it, to keep them out of error bodies."""
    found: set[str] = set()

    def add(value: str):
        for variant in (value, value.strip()):
            if variant:
                found.add(variant)

    def walk(value):
        # Iterative: the body may be nested as deep as the parser allows.
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple)):
                stack.extend(item)
            elif isinstance(item, str):
                add(item)

    if request is None:
        return found
    try:
        for key in request.query_params:
            for value in request.query_params.getlist(key):
                add(value)
    except Exception:  # noqa: BLE001 - not a DRF request: no query string to hide
        pass
    try:
        walk(getattr(request, "data", None))
    except Exception:  # noqa: BLE001 - an unparsable body has no values to hide; its parse error says so
        pass
    return found


INVALID_VALUE_MESSAGE = _("This value is not valid.")
_QUOTES = (('"', '"'), ("'", "'"), ("“", "”"), ("«", "»"), ("‘", "’"))


def _message_without(text: str, values: set[str]) -> str:
    """A message with every submitted value taken out: a quoted one ("X", 'X', “X”) is
    replaced by an ellipsis; if a value still appears bare ("X is not one of the available
    choices."), the whole message becomes a fixed one."""
    for value in sorted(values, key=len, reverse=True):
        for opening, closing in _QUOTES:
            text = text.replace(f"{opening}{value}{closing}", f"{opening}…{closing}")
    if any(value in text for value in values):
        return str(INVALID_VALUE_MESSAGE)
    return text


def _without_submitted_values(errors, values: set[str]):
    """Django's, DRF's and django-filter's messages quote what was sent: take it out."""
    if isinstance(errors, dict):
        return {key: _without_submitted_values(item, values) for key, item in errors.items()}
    if isinstance(errors, list):
        return [_without_submitted_values(item, values) for item in errors]
    if isinstance(errors, str) and values:
        text = _message_without(str(errors), values)
        return exceptions.ErrorDetail(text, errors.code) if hasattr(errors, "code") else text
    return errors


def exception_handler(exc, context):
    """The one place where errors become HTTP answers.

    Bodies carry a fixed message, a code and, for 400, field errors: never the
    submitted values, so no personal data ends up in error bodies or logs.
    """
    if isinstance(exc, NotVisible):
        # A row the caller may not see answers exactly as a missing one.
        exc = exceptions.NotFound()
    elif isinstance(exc, TransitionNotAllowed):
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
    elif isinstance(exc, exceptions.MethodNotAllowed):
        # DRF's message quotes the method sent.
        exc = exceptions.MethodNotAllowed(method="", detail=_("Method not allowed."))
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        # DRF's message quotes the content type sent.
        exc = exceptions.UnsupportedMediaType(media_type="", detail=_("Unsupported media type."))

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
        if getattr(self, "swagger_fake_view", False):
            # Schema generation only needs the model: no query (there may be no database).
            return queryset.none()
        return self.optimise(queryset)

    def get_object(self):
        """The one place where a detail lookup misses: outside the caller's scope or not
        there at all, the answer is the same 404, and the refusal is audited (kind of row
        and requested id, nothing of the row)."""
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        try:
            if not re.fullmatch(r"[0-9]{1,19}", str(lookup)) or int(lookup) > MAX_ID:
                raise exceptions.NotFound()
            return super().get_object()
        except (Http404, exceptions.NotFound):
            method = self.request.method
            note = "" if method in ("GET", "HEAD") else method
            # Only a plain number is kept as the requested id; anything else is not written.
            requested = str(lookup) if re.fullmatch(r"[0-9]{1,18}", str(lookup)) else ""
            record_refused_read(self.get_queryset().model, requested, door_note=note)
            raise exceptions.NotFound() from None

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

    def check_if_match(self, instance, *, required: bool, current_etag: str | None = None) -> None:
        """An edit names the version it was based on. ``If-Match: *`` names none (it would
        overwrite whatever is there), so where a version is required it answers 428 like a
        missing header."""
        header = self.request.headers.get("If-Match")
        tags = parse_if_match(header) if header is not None else []
        versions = [tag for tag in tags if tag != "*"]
        if not versions:
            if header is not None and not required and "*" in tags:
                return
            if required:
                raise PreconditionRequired()
            if header is None:
                return
        if (current_etag or self.etag_for(instance)) not in versions:
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
        # Looked up outside the transaction, so that a refused lookup's audit entry stays.
        instance = self.get_object()
        with transaction.atomic():
            # Lock the row so the version check and the write are one step.
            list(type(instance).objects.select_for_update().filter(pk=instance.pk).values_list("pk", flat=True))
            instance.refresh_from_db()
            current_etag = self.etag_for(instance)

            def check_version():
                self.check_if_match(instance, required=True, current_etag=current_etag)

            serializer = self.get_serializer(instance, data=request.data, partial=partial)
            serializer.context["before_write"] = check_version
            # Bad input answers 400 first; the version is checked before anything is written
            # (RoleAwareSerializer calls ``before_write`` after its validation).
            serializer.is_valid(raise_exception=True)
            if not isinstance(serializer, RoleAwareSerializer):
                check_version()
            serializer.save()
        return self.action_response(instance)


class CreateMixin(mixins.CreateModelMixin):
    """POST on the list: 201 with the new row as the caller now reads it, and its ETag."""

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            instance = serializer.save()
        response = self.action_response(instance)
        response.status_code = status.HTTP_201_CREATED
        return response


class WritableScopedViewSet(CreateMixin, EditableScopedViewSet):
    """Listed, read, created and edited (PUT/PATCH with If-Match)."""


class CatalogueViewSet(WritableScopedViewSet):
    """Read by every role that may see the rows, created and edited by administrators."""

    permission_classes = [permissions.IsAuthenticated, IsAdministratorOrReadOnly]


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
