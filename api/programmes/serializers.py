"""Serializers of the programmes API. Each declares who may read and write which field
in ``Meta.access``: the one place a resource's redaction is decided."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework import serializers

from api.base import ALL, Access, RoleAwareSerializer, access_by_role
from programmes import rules, services
from programmes.models import Enrolment, FollowUp, Programme, StageRecord, StageType

# What administrators may write of a stage type; everyone who sees the catalogue reads it.
STAGE_TYPE_WRITABLE = (
    "programme",
    "code",
    "name",
    "kind",
    "position",
    "start_offset_days",
    "default_duration_days",
    "follow_up_interval_days",
    "remind_days_before",
    "escalate_after_days",
    "applies_to",
    "track",
    "min_age_years",
    "max_age_years",
    "is_active",
)
CATALOGUE_ACCESS = access_by_role(
    staff=Access(read=ALL),
    partner=Access(read=ALL),
    administrator=Access(read=ALL, write=STAGE_TYPE_WRITABLE),
)


class StageTypeSerializer(RoleAwareSerializer):
    class Meta:
        model = StageType
        fields = ["id", *STAGE_TYPE_WRITABLE]
        access = CATALOGUE_ACCESS


class ProgrammeSerializer(RoleAwareSerializer):
    stage_types = StageTypeSerializer(many=True, read_only=True, help_text="The active stage catalogue, in order.")

    class Meta:
        model = Programme
        fields = ["id", "code", "name", "country", "time_zone", "is_active", "stage_types"]
        access = access_by_role(
            staff=Access(read=ALL),
            partner=Access(read=ALL),
            administrator=Access(read=ALL, write=("code", "name", "country", "time_zone", "is_active")),
        )

    def persist(self, instance) -> None:
        """Saved by ``programme_save``, the admin's service too, which installs the
        programme's report schedule."""
        request = self.context.get("request")
        services.programme_save(programme=instance, by=getattr(request, "user", None))


class EnrolmentSerializer(RoleAwareSerializer):
    class Meta:
        model = Enrolment
        fields = ["id", "case", "programme", "status", "enrolled_on", "ended_on", "created_at"]
        read_only_fields = fields
        access = access_by_role(staff=Access(read=ALL), partner=Access(read=ALL))


class StageTypeSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = StageType
        fields = ["id", "code", "name", "kind"]


class StageSummarySerializer(serializers.ModelSerializer):
    """A stage as listed inside its case."""

    stage_type = StageTypeSummarySerializer(read_only=True)
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = StageRecord
        fields = ["id", "stage_type", "status", "planned_start", "due_date", "started_on", "is_overdue"]

    def get_is_overdue(self, stage) -> bool:
        return rules.row_is_overdue(stage)


# What stage_summary() reads of a stage, in this order, for ``.values_list()`` on a
# stage queryset: a case list prints hundreds of stages, and a model instance for
# each stage and its type cost more than the rest of their serialisation.
STAGE_SUMMARY_VALUES = (
    "id",
    "status",
    "planned_start",
    "due_date",
    "started_on",
    "stage_type_id",
    "stage_type__code",
    "stage_type__name",
    "stage_type__kind",
    # The one overdue rule, annotated by rules.with_overdue_flag() on the stage queryset.
    rules.OVERDUE_FLAG,
)


def _iso(day):
    return None if day is None else day.isoformat()


def stage_summary(values: Sequence) -> dict:
    """StageSummarySerializer's output, built directly from STAGE_SUMMARY_VALUES."""
    stage_id, status, planned_start, due_date, started_on, type_id, type_code, type_name, type_kind, overdue = values
    return {
        "id": stage_id,
        "stage_type": {"id": type_id, "code": type_code, "name": type_name, "kind": type_kind},
        "status": status,
        "planned_start": _iso(planned_start),
        "due_date": _iso(due_date),
        "started_on": _iso(started_on),
        "is_overdue": bool(overdue),
    }


class StageSerializer(RoleAwareSerializer):
    """One stage of one person's plan. Status changes only through the actions
    (start, complete, block, unblock, discontinue, reopen)."""

    case = serializers.IntegerField(source="enrolment.case_id", read_only=True)
    case_reference = serializers.CharField(source="enrolment.case.reference", read_only=True)
    programme = serializers.IntegerField(source="enrolment.programme_id", read_only=True)
    stage_type = StageTypeSummarySerializer(read_only=True)
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = StageRecord
        fields = [
            "id",
            "case",
            "case_reference",
            "enrolment",
            "programme",
            "stage_type",
            "status",
            "planned_start",
            "due_date",
            "started_on",
            "completed_on",
            "is_overdue",
            "responsible_user",
            "responsible_agency",
            "outcome",
            "status_reason",
            "version",
            "updated_at",
        ]
        read_only_fields = fields
        access = access_by_role(
            staff=Access(read=ALL),
            partner=Access(
                read=(
                    "id",
                    "case",
                    "case_reference",
                    "stage_type",
                    "status",
                    "planned_start",
                    "due_date",
                    "started_on",
                    "completed_on",
                    "is_overdue",
                    "responsible_agency",
                    "outcome",
                    "version",
                    "updated_at",
                )
            ),
        )

    def get_is_overdue(self, stage) -> bool:
        return rules.row_is_overdue(stage)


class FollowUpSerializer(RoleAwareSerializer):
    is_overdue = serializers.SerializerMethodField()

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "stage",
            "kind",
            "due_date",
            "assignee",
            "done_on",
            "cancelled_on",
            "outcome",
            "is_overdue",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        access = access_by_role(
            staff=Access(read=ALL),
            partner=Access(
                read=(
                    "id",
                    "stage",
                    "kind",
                    "due_date",
                    "done_on",
                    "cancelled_on",
                    "outcome",
                    "is_overdue",
                    "updated_at",
                )
            ),
        )

    def get_is_overdue(self, follow_up) -> bool:
        return rules.row_is_overdue(follow_up)


# --- Action bodies ----------------------------------------------------------------


class StageStartSerializer(serializers.Serializer):
    on = serializers.DateField(required=False, help_text="Day the stage started; today by default.")


class StageCompleteSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=5000, help_text="What the stage achieved.")
    on = serializers.DateField(required=False, help_text="Day the stage was completed; today by default.")


class StageReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why; no sensitive details.")


class FollowUpOutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=5000)
    done_on = serializers.DateField(required=False, help_text="Day it took place; today by default.")
