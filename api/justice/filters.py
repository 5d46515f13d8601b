"""FilterSets of the justice track; ``Meta.reveals`` says which fields each filter reveals."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from api.casework.filters import BoundedDateFilter, IdFilter
from api.policies import RoleAwareFilterSet
from justice.models import CourtHearing, HearingOutcome, LegalProceeding, ProceedingStage


class LegalProceedingFilterSet(RoleAwareFilterSet):
    case = IdFilter(field_name="case_id")
    stage = django_filters.ChoiceFilter(choices=ProceedingStage.choices)
    in_custody = django_filters.BooleanFilter(method="filter_in_custody", label="In custody now (not yet released)")

    class Meta:
        model = LegalProceeding
        fields = ["case", "stage", "in_custody"]
        reveals = {"case": "case", "stage": "stage", "in_custody": ("detained_since", "actual_release_on")}

    def filter_in_custody(self, queryset, name, value):
        custody = Q(detained_since__isnull=False, actual_release_on__isnull=True)
        return queryset.filter(custody) if value else queryset.exclude(custody)


class CourtHearingFilterSet(RoleAwareFilterSet):
    proceeding = IdFilter(field_name="proceeding_id")
    outcome = django_filters.ChoiceFilter(choices=HearingOutcome.choices)
    held_from = BoundedDateFilter(field_name="held_on", lookup_expr="gte")
    held_until = BoundedDateFilter(field_name="held_on", lookup_expr="lte")

    class Meta:
        model = CourtHearing
        fields = ["proceeding", "outcome", "held_from", "held_until"]
        reveals = {"proceeding": "proceeding", "outcome": "outcome", "held_from": "held_on", "held_until": "held_on"}
