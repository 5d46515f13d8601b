from rest_framework import serializers

from programmes.models import Programme, StageType


class StageTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = StageType
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "position",
            "start_offset_days",
            "default_duration_days",
            "follow_up_interval_days",
            "applies_to",
            "min_age_years",
            "max_age_years",
        ]


class ProgrammeSerializer(serializers.ModelSerializer):
    stage_types = StageTypeSerializer(many=True, read_only=True)

    class Meta:
        model = Programme
        fields = ["id", "code", "name", "country", "time_zone", "stage_types"]
