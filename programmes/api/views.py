from django.db.models import Prefetch
from rest_framework import viewsets

from programmes.api.serializers import ProgrammeSerializer
from programmes.models import StageType
from programmes.selectors import programme_visible_to


class ProgrammeViewSet(viewsets.ReadOnlyModelViewSet):
    """Programmes the caller works in, with their stage catalogue."""

    serializer_class = ProgrammeSerializer

    def get_queryset(self):
        return programme_visible_to(self.request.user).prefetch_related(
            Prefetch("stage_types", queryset=StageType.objects.filter(is_active=True))
        )
