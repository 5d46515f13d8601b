from django.contrib import admin
from django.urls import include, path, re_path

from accounts.views import ApiLoginView
from api import base as api_base
from api import docs as api_docs
from api.urls import router
from config import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Administrators and METRICS_ALLOWED_IPS only; 404 for anybody else.
    path("metrics", metrics.metrics, name="metrics"),
    # The second step of signing in, before the admin's own URLs so that they do not swallow it.
    path("admin/two-factor/", include("accounts.two_factor_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(router.urls)),
    # Both for signed-in users and token holders only (the schema lists every role's fields).
    path("api/schema/", api_docs.ApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", api_docs.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    # DRF's sign-in page, with the second step for those who owe one; its other URLs are DRF's.
    path("api/auth/login/", ApiLoginView.as_view(), name="api-login"),
    path("api/auth/", include("rest_framework.urls")),
    path("i18n/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Unknown API paths answer JSON like the rest of the API.
    re_path(r"^api/", api_base.not_found),
]
