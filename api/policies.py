"""API policies named in settings: authentication, pagination, throttling, and which
query parameters (filters and ``?ordering=`` keys) a role may use.

Kept apart from ``api.base`` because DRF imports these while it loads its
own views; this module must not import DRF's views in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import json
from dataclasses import dataclass
from functools import cached_property

import django_filters
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connection
from django.core.exceptions import ValidationError as DjangoValidationError
from django.forms.utils import ErrorDict, ErrorList
from django.utils.translation import gettext_lazy as _
from django_filters.filterset import FilterSetMetaclass
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions, filters, pagination, throttling
from rest_framework.authentication import get_authorization_header
from rest_framework.settings import api_settings

# --- Authentication -------------------------------------------------------------


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored hashed, expiring, revocable) sent as ``Token <key>`` or ``Bearer <key>``."""

    keywords = (b"token", b"bearer")

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in self.keywords:
            return None
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            auth[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        return self.authenticate_credentials(auth[1])

    def authenticate_header(self, request):
        return "Token"


# --- Pagination -----------------------------------------------------------------


#: A list counts its rows exactly up to this many; past it, ``count`` is PostgreSQL's
#: estimate (never below this), so that a page does not repeat the whole scoped join
#: over hundreds of thousands of rows only to count them. README, "The partner-agency API".
EXACT_COUNT_LIMIT = 1_000


class _ProbedPage(Page):
    """A page whose "is there a next one" was answered by reading one row more."""

    more = False

    def has_next(self) -> bool:
        return self.more


class CountPastLimitPaginator(Paginator):
    """Django's paginator, with an exact count up to ``EXACT_COUNT_LIMIT`` rows and an
    estimate past it. With an estimate, any page number may be asked for, and a page
    has a next one when there is a row after it (one row more is read), whatever the
    estimate says."""

    count_is_exact = True

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not hasattr(rows, "query"):
            return len(rows)
        # COUNT(*) over a LIMIT: stops at the limit rather than visiting every row.
        capped = rows.order_by()[: EXACT_COUNT_LIMIT + 1].count()
        if capped <= EXACT_COUNT_LIMIT or connection.vendor != "postgresql":
            return capped if capped <= EXACT_COUNT_LIMIT else rows.count()
        self.count_is_exact = False
        plan = json.loads(rows.order_by().explain(format="json"))
        return max(int(plan[0]["Plan"]["Plan Rows"]), capped)

    def validate_number(self, number):
        if self.count >= 0 and self.count_is_exact:  # counting first decides which
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(_("That page number is not an integer")) from None
        if number < 1:
            raise EmptyPage(_("That page number is less than 1"))
        return number

    def page(self, number):
        number = self.validate_number(number)
        if self.count_is_exact:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows:
            raise EmptyPage(_("That page contains no results"))
        page = _ProbedPage(rows[: self.per_page], number, self)
        page.more = len(rows) > self.per_page
        return page


class PagePagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CountPastLimitPaginator


class SyncCursorPagination(pagination.CursorPagination):
    """Sync feeds: oldest change first, stable under concurrent writes, resumable by cursor."""

    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 200


# --- Throttling -----------------------------------------------------------------


class _DynamicRateMixin:
    """Reads the rate on each request, so tests and operators can change it in settings."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class TokenRateThrottle(_DynamicRateMixin, throttling.SimpleRateThrottle):
    """Per token for token callers (one client, one budget), per user for sessions."""

    scope = "token"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        token_key = getattr(request.auth, "token_key", None)
        ident = f"t:{token_key}" if token_key else f"u:{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(_DynamicRateMixin, throttling.AnonRateThrottle):
    scope = "anonymous"


# --- Filters and ordering by role -------------------------------------------------
#
# A filter answers "which rows have this value?": on a field the caller may not
# read, that is a way of reading it (``?risk_level=high`` on referred cases). So the
# serializers' ``Meta.access`` tables, which decide what each role reads, decide
# what it may filter and order by too. Each filter declares the serializer fields
# whose values it reveals (``Meta.reveals``), each ordering key reveals the field
# of the same name (or what the view's ``ordering_reveals`` says); a parameter
# revealing a field the caller's role may not read answers 400.

FILTER_REFUSED_MESSAGE = _("You may not filter by this field.")
FILTER_REFUSED_CODE = "not_readable"

# The declaration of a filter that reveals no field's value (e.g. a free page size).
REVEALS_NOTHING: tuple = ()


@dataclass(frozen=True)
class FieldOf:
    """A field of another resource's serializer, for a filter that reveals a fact its
    own rows do not print (people filtered by their case's repatriation operation)."""

    serializer: type
    field: str


def field_of(serializer: type, field: str) -> FieldOf:
    return FieldOf(serializer, field)


def revealed_fields(declaration) -> tuple:
    """A declaration as a tuple of field references: a name (a field of the view's own
    serializer), a ``FieldOf``, or a tuple of these."""
    if isinstance(declaration, (str, FieldOf)):
        return (declaration,)
    return tuple(declaration)


def readable_fields(request, serializer_class) -> frozenset[str]:
    """The fields of ``serializer_class`` the caller may read: the ones its serializer
    keeps after ``Meta.access`` has removed the others (``RoleAwareSerializer.get_fields``),
    so answers and filters follow one table. Computed once per request and serializer."""
    cache = request.__dict__.setdefault("_readable_fields", {})
    if serializer_class not in cache:
        cache[serializer_class] = frozenset(serializer_class(context={"request": request}).fields)
    return cache[serializer_class]


def unreadable_references(request, view, references: Iterable) -> list:
    """The references (see ``revealed_fields``) to fields the caller may not read."""
    own = view.get_serializer_class()
    refused = []
    for reference in references:
        serializer, field = (
            (reference.serializer, reference.field) if isinstance(reference, FieldOf) else (own, reference)
        )
        if field not in readable_fields(request, serializer):
            refused.append(reference)
    return refused


def refusal(parameters: Iterable[str]) -> exceptions.ValidationError:
    """400 naming the parameters, never their values."""
    return exceptions.ValidationError(
        {name: [exceptions.ErrorDetail(str(FILTER_REFUSED_MESSAGE), code=FILTER_REFUSED_CODE)] for name in parameters}
    )


class _RevealsDeclaredMetaclass(FilterSetMetaclass):
    """Refuses, when the module loads, a filterset with a filter whose ``Meta.reveals``
    entry is missing: a new filter cannot ship without saying what it reveals."""

    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        if new_class._meta.model is not None:
            reveals = getattr(getattr(new_class, "Meta", None), "reveals", None)
            if not isinstance(reveals, Mapping):
                raise ImproperlyConfigured(f"{name}.Meta.reveals must map each filter to the fields it reveals.")
            undeclared = sorted(set(new_class.base_filters) - set(reveals))
            unknown = sorted(set(reveals) - set(new_class.base_filters))
            if undeclared or unknown:
                raise ImproperlyConfigured(
                    f"{name}.Meta.reveals: undeclared filters {undeclared}, declarations without a filter {unknown}."
                )
        return new_class


class RoleAwareFilterSet(django_filters.FilterSet, metaclass=_RevealsDeclaredMetaclass):
    """A filterset whose filters each declare, in ``Meta.reveals``, the serializer fields
    their answer reveals; using one on a field the caller's role may not read answers
    400 (``{"errors": {"<filter>": ["You may not filter by this field."]}}``) before any
    value is parsed, so the answer says nothing about the value either.

    Names in ``Meta.reveals`` are fields of the serializer of the view that uses the
    filterset; ``field_of(Serializer, "field")`` names another resource's field;
    ``REVEALS_NOTHING`` declares a filter that reveals no field.
    """

    @classmethod
    def reveals(cls, name: str) -> tuple:
        return revealed_fields(cls.Meta.reveals[name])

    def refused_filters(self) -> list[str]:
        if not hasattr(self, "_refused_filters"):
            view = (getattr(self.request, "parser_context", None) or {}).get("view")
            submitted = [name for name in self.filters if name in self.data]
            if submitted and view is None:
                # Not through an API view: no role to judge by, so no filter.
                self._refused_filters = submitted
            else:
                self._refused_filters = [
                    name for name in submitted if unreadable_references(self.request, view, self.reveals(name))
                ]
        return self._refused_filters

    @property
    def errors(self):
        refused = self.refused_filters()
        if refused:
            error = DjangoValidationError(FILTER_REFUSED_MESSAGE, code=FILTER_REFUSED_CODE)
            return ErrorDict({name: ErrorList([error]) for name in refused})
        return super().errors

    def is_valid(self):
        return not self.refused_filters() and super().is_valid()

    def filter_queryset(self, queryset):
        if self.refused_filters():
            return queryset.none()
        return super().filter_queryset(queryset)


# --- Ordering -------------------------------------------------------------------


class StableOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` with the id as the last key, so that rows sharing a value
    (an arrival date, a name) land on the same page however the plan reads them.

    An ordering key reveals the order of its field's values: a key on a field the
    caller's role may not read answers 400, as a filter on it does. A key reveals
    the serializer field of the same name unless the view's ``ordering_reveals``
    maps it to other fields.
    """

    @staticmethod
    def reveals(view, key: str) -> tuple:
        return revealed_fields(getattr(view, "ordering_reveals", {}).get(key, key))

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if any(unreadable_references(request, view, self.reveals(view, term.lstrip("-"))) for term in valid):
            raise refusal([self.ordering_param])
        return valid

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = list(ordering)
        if not any(key.lstrip("-") in ("id", "pk") for key in ordering):
            ordering.append("id")
        return ordering
