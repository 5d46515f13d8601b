"""The API's description: the OpenAPI schema and Swagger UI, for signed-in users only."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer


class ApiSchemaView(SpectacularAPIView):
    """The OpenAPI schema, for signed-in users and token holders (``SERVE_PERMISSIONS``):
    it lists every field of every role. Refusals answer JSON whatever format was asked for."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI for signed-in users; its start-up script is a separate file (``?script``),
    so that the page runs under a Content-Security-Policy with no inline script. A visitor
    who is not signed in is sent to the admin's sign-in page and back."""

    def handle_exception(self, exc):
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            return redirect_to_login(self.request.get_full_path(), login_url=reverse("admin:login"))
        return super().handle_exception(exc)
