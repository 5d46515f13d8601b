"""How the API describes itself (drf-spectacular): error answers on every operation,
the token scheme, each resource's field access by role, and the roles that may use
each filter and ordering key."""

from __future__ import annotations

from django.db.backends.base.operations import BaseDatabaseOperations
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import build_mock_request
from rest_framework import serializers

from api.base import ALL, ApiRole
from api.policies import FieldOf, RoleAwareFilterSet, StableOrderingFilter, revealed_fields


def mock_request(method, path, view, original_request, **kwargs):
    """The schema is the same whoever asks: field access is printed, not applied."""
    request = build_mock_request(method, path, view, original_request, **kwargs)
    request._api_role = None
    return request


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="A fixed, human-readable message; never echoes submitted values.")
    code = serializers.CharField(help_text="A machine-readable code, e.g. not_found, transition_not_allowed.")


class ValidationErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Messages by field name (non_field_errors for the request as a whole); absent for a malformed body.",
    )


_ERRORS = {
    "400": (ValidationErrorSerializer, "Invalid input: a malformed body, a bad filter or field errors."),
    "401": (ErrorSerializer, "No valid credentials: missing, unknown, expired or revoked token."),
    "403": (ErrorSerializer, "Signed in, but this role may not do this."),
    "404": (ErrorSerializer, "No such object, or one the caller may not see; also an invalid page or cursor."),
    "409": (ErrorSerializer, "The transition is not allowed from the current status, or the write conflicts."),
    "412": (ErrorSerializer, "The If-Match ETag is stale: the object changed since it was read."),
    "413": (ErrorSerializer, "The request body is too large."),
    "428": (ErrorSerializer, "PUT and PATCH need an If-Match header with the ETag last read."),
    "429": (ErrorSerializer, "Too many requests for this token (or address, when anonymous)."),
}


class AutoSchema(SpectacularAutoSchema):
    """Adds the error answers each operation can give, so clients and schemathesis know them."""

    def _is_list_view(self, serializer=None) -> bool:
        # The sync feed and the name search answer pages of rows, like "list".
        if getattr(self.view, "action", None) in ("changes", "search"):
            return True
        return super()._is_list_view(serializer)

    def get_paginated_name(self, serializer_name):
        # Page-numbered lists and cursor feeds have different envelopes.
        from rest_framework.pagination import CursorPagination

        if isinstance(self._get_paginator(), CursorPagination):
            return f"{serializer_name}ChangesPage"
        return super().get_paginated_name(serializer_name)

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # Integer bounds come from the database backend (SQLite allows 64 bits
        # everywhere); print the portable ranges so the schema is the same on all.
        model = getattr(getattr(getattr(field, "parent", None), "Meta", None), "model", None)
        if model is None or "maximum" not in schema and "minimum" not in schema:
            return
        try:
            model_field = model._meta.get_field(field.source)
        except Exception:
            return
        portable = BaseDatabaseOperations.integer_field_ranges.get(model_field.get_internal_type())
        if not portable:
            return
        low, high = portable
        schema["minimum"] = max(schema.get("minimum", low), low)
        schema["maximum"] = min(schema.get("maximum", high), high)
        if schema.get("format") == "int64" and -(2**31) <= schema["minimum"] and schema["maximum"] < 2**31:
            del schema["format"]

    def _get_filter_parameters(self):
        # Filters and ordering keys that only some roles may use say which: the others get 400.
        parameters = super()._get_filter_parameters()
        filterset = getattr(self.view, "filterset_class", None)
        if filterset is None or not issubclass(filterset, RoleAwareFilterSet):
            return parameters
        for parameter in parameters:
            name = parameter.get("name")
            if name in filterset.Meta.reveals:
                roles = roles_that_may_read(self.view, filterset.Meta.reveals[name])
                if len(roles) < len(ApiRole):
                    parameter["x-roles"] = roles
                    _append(parameter, f"Only for: {_roles_text(roles)} (others get 400).")
            elif name == StableOrderingFilter.ordering_param and getattr(self.view, "ordering_fields", None):
                restricted = {
                    key: roles
                    for key in self.view.ordering_fields
                    if len(roles := roles_that_may_read(self.view, StableOrderingFilter.reveals(self.view, key)))
                    < len(ApiRole)
                }
                if restricted:
                    parameter["x-roles"] = restricted
                    _append(
                        parameter,
                        "Keys only some roles may use (others get 400): "
                        + "; ".join(f"{key} ({_roles_text(roles)})" for key, roles in restricted.items())
                        + ".",
                    )
        return parameters

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "404", "429"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["409", "412", "413"]
        if self.method in ("PUT", "PATCH"):
            codes.append("428")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code in responses:
                continue
            serializer, description = _ERRORS[code]
            response = self._get_response_for_code(serializer, code, direction=direction)
            response["description"] = description
            responses[code] = response
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "200" and self.method in ("GET", "PUT", "PATCH") and not self._is_list_view():
            headers["ETag"] = {
                "schema": {"type": "string"},
                "description": "Send it back in If-Match to update this object.",
            }
        return headers

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method in ("PUT", "PATCH"):
            from drf_spectacular.utils import OpenApiParameter

            parameters = [
                *parameters,
                OpenApiParameter(
                    "If-Match",
                    location=OpenApiParameter.HEADER,
                    required=True,
                    description="The ETag of the object as last read; 412 when it has changed since, 428 when missing.",
                ),
            ]
        return parameters


def roles_that_may_read(view, declaration) -> list[str]:
    """The roles whose ``Meta.access`` lets them read every field a filter or ordering key reveals."""
    own = view.get_serializer_class()
    fields = [
        (ref.serializer, ref.field) if isinstance(ref, FieldOf) else (own, ref) for ref in revealed_fields(declaration)
    ]
    roles = []
    for role in ApiRole:
        reads = [serializer.access_for(role).read for serializer, _ in fields]
        if all(read == ALL or field in read for read, (_, field) in zip(reads, fields)):
            roles.append(role.value)
    return roles


def _roles_text(roles: list[str]) -> str:
    return ", ".join(roles) if roles else "no role"


def _append(parameter: dict, text: str) -> None:
    description = (parameter.get("description") or "").rstrip()
    parameter["description"] = f"{description}\n\n{text}" if description else text


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.policies.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>` or `Bearer <key>`. Keys come from `python manage.py issue_token USERNAME`; "
                "they are stored hashed, expire, and can be revoked in the admin."
            ),
        }


class RoleAwareSerializerExtension(OpenApiSerializerExtension):
    """Prints ``Meta.access`` into the component: a table in the description and
    ``x-field-access``; fields some role may not read are not marked required."""

    target_class = "api.base.RoleAwareSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        serializer_class = type(self.target)
        field_names = list(schema.get("properties", {}))
        access = {}
        for role in ApiRole:
            role_access = serializer_class.access_for(role)
            read = field_names if role_access.read == ALL else [f for f in field_names if f in role_access.read]
            access[role.value] = {"read": read, "write": [f for f in field_names if f in role_access.write]}
        readable_by_all = set.intersection(*(set(a["read"]) for a in access.values()))
        # Rows that print fewer fields than their role's set (``Meta.read_while``: a
        # condition -> the fields such a row keeps), e.g. a referral pending for a partner.
        read_while = getattr(serializer_class.Meta, "read_while", {})
        for fields in read_while.values():
            readable_by_all &= set(fields)
        if direction == "response" and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name in readable_by_all]
            if not schema["required"]:
                del schema["required"]
        lines = [
            "",
            "",
            "Field access by role (fields a role may not read are left out of its answers; "
            "writing a field the role may not write answers 400):",
            "",
        ]
        for role, fields in access.items():
            hidden = [f for f in field_names if f not in fields["read"]]
            lines.append(
                f"- **{role}**: reads {'all fields' if not hidden else 'all but ' + ', '.join(hidden)}; "
                f"writes {', '.join(fields['write']) or 'nothing'}."
            )
        for condition, fields in read_while.items() if direction == "response" else ():
            lines.append(f"- **{condition}**: reads only {', '.join(f for f in field_names if f in fields)}.")
        schema["description"] = (schema.get("description") or "").rstrip() + "\n".join(lines)
        schema["x-field-access"] = access
        return schema
