from django.contrib import admin
from django.urls import include, path

from config import health
from config.api import router

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(router.urls)),
    path("api/auth/", include("rest_framework.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
