"""FilterSets for the programmes API: enrolments, stages, follow-ups, stage types, programmes.

As in ``api.casework.filters``, ``Meta.reveals`` says which serializer fields each
filter reveals, and a role may use only the filters on fields it may read.
"Overdue" is ``programmes.rules``' definition, the one the admin and the reminders use.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q

from api.casework.serializers import CaseSerializer, PersonSerializer
from api.casework.filters import AgeBandFilter, BoundedDateFilter, IdFilter, UpdatedSinceFilter
from api.policies import RoleAwareFilterSet, field_of
from programmes import rules
from api.programmes.serializers import StageSerializer
from programmes.models import (
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    FollowUpKind,
    Programme,
    StageKind,
    StageRecord,
    StageStatus,
    StageType,
)


class ProgrammeFilterSet(RoleAwareFilterSet):
    """No filters: it checks the programmes' ordering keys like every other list's."""

    class Meta:
        model = Programme
        fields = []
        reveals = {}


class StageTypeFilterSet(RoleAwareFilterSet):
    programme = IdFilter(field_name="programme_id")
    kind = django_filters.ChoiceFilter(choices=StageKind.choices)

    class Meta:
        model = StageType
        fields = ["programme", "kind"]
        reveals = {"programme": "programme", "kind": "kind"}


class EnrolmentFilterSet(RoleAwareFilterSet):
    programme = IdFilter(field_name="programme_id")
    case = IdFilter(field_name="case_id")
    status = django_filters.ChoiceFilter(choices=EnrolmentStatus.choices)

    class Meta:
        model = Enrolment
        fields = ["programme", "case", "status"]
        reveals = {"programme": "programme", "case": "case", "status": "status"}


class StageFilterSet(RoleAwareFilterSet):
    programme = IdFilter(field_name="enrolment__programme_id")
    case = IdFilter(field_name="enrolment__case_id")
    stage_type = IdFilter(field_name="stage_type_id")
    kind = django_filters.ChoiceFilter(field_name="stage_type__kind", choices=StageKind.choices)
    status = django_filters.MultipleChoiceFilter(choices=StageStatus.choices)
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Open and past its due date")
    due_after = BoundedDateFilter(field_name="due_date", lookup_expr="gte", label="Due on or after")
    due_before = BoundedDateFilter(field_name="due_date", lookup_expr="lte", label="Due on or before")
    caseworker = IdFilter(field_name="responsible_user_id", label="Responsible worker (user id)")
    agency = IdFilter(field_name="responsible_agency_id", label="Responsible agency (id)")
    operation = IdFilter(field_name="enrolment__case__operation_id", label="Repatriation operation (id)")
    age_band = AgeBandFilter(birth_field="enrolment__case__person__date_of_birth")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = StageRecord
        fields = [
            "programme",
            "case",
            "stage_type",
            "kind",
            "status",
            "overdue",
            "due_after",
            "due_before",
            "caseworker",
            "agency",
            "operation",
            "age_band",
            "updated_since",
        ]
        reveals = {
            "programme": "programme",
            "case": "case",
            "stage_type": "stage_type",
            "kind": "stage_type",
            "status": "status",
            "overdue": "is_overdue",
            "due_after": "due_date",
            "due_before": "due_date",
            "caseworker": "responsible_user",
            "agency": "responsible_agency",
            "operation": field_of(CaseSerializer, "operation"),
            "age_band": field_of(PersonSerializer, "date_of_birth"),
            "updated_since": "updated_at",
        }

    def filter_overdue(self, queryset, name, value):
        overdue = rules.stage_overdue_q()
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


class FollowUpFilterSet(RoleAwareFilterSet):
    programme = IdFilter(field_name="stage__enrolment__programme_id")
    stage = IdFilter(field_name="stage_id")
    stage_type = IdFilter(field_name="stage__stage_type_id")
    kind = django_filters.ChoiceFilter(choices=FollowUpKind.choices)
    assignee = IdFilter(field_name="assignee_id", label="Assigned worker (user id)")
    open = django_filters.BooleanFilter(method="filter_open", label="Neither done nor cancelled")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Open and past its due date")
    due_after = BoundedDateFilter(field_name="due_date", lookup_expr="gte", label="Due on or after")
    due_before = BoundedDateFilter(field_name="due_date", lookup_expr="lte", label="Due on or before")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = FollowUp
        fields = [
            "programme",
            "stage",
            "stage_type",
            "kind",
            "assignee",
            "open",
            "overdue",
            "due_after",
            "due_before",
            "updated_since",
        ]
        reveals = {
            "programme": field_of(StageSerializer, "programme"),
            "stage": "stage",
            "stage_type": field_of(StageSerializer, "stage_type"),
            "kind": "kind",
            "assignee": "assignee",
            "open": ("done_on", "cancelled_on"),
            "overdue": "is_overdue",
            "due_after": "due_date",
            "due_before": "due_date",
            "updated_since": "updated_at",
        }

    def filter_open(self, queryset, name, value):
        is_open = Q(done_on__isnull=True, cancelled_on__isnull=True)
        return queryset.filter(is_open) if value else queryset.exclude(is_open)

    def filter_overdue(self, queryset, name, value):
        overdue = rules.follow_up_overdue_q()
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
