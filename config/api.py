"""The versioned API router: every app registers its viewsets here."""

from rest_framework.routers import DefaultRouter

from programmes.api.views import ProgrammeViewSet

router = DefaultRouter()
router.register("programmes", ProgrammeViewSet, basename="programme")
