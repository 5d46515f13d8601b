"""API policies named in settings: authentication, pagination and throttling.

Kept apart from ``config.api_base`` because DRF imports these while it loads its
own views; this module must not import DRF's views in turn.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
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


class PagePagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


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




# --- Ordering -------------------------------------------------------------------


class StableOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` with the id as the last key, so that rows sharing a value
    (an arrival date, a name) land on the same page however the plan reads them."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        ordering = list(ordering)
        if not any(key.lstrip("-") in ("id", "pk") for key in ordering):
            ordering.append("id")
        return ordering
