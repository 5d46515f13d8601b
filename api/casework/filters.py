"""FilterSets for the casework API: people, families, cases, referrals, agencies.

Filters by related ids take the id without checking that the row exists, so
a filter never reveals whether someone else's programme or caseworker exists;
the queryset they narrow is already scoped by the selectors.

Each filterset declares in ``Meta.reveals`` which serializer fields each filter
reveals: a role may use only the filters on fields it may read (see
``api.policies.RoleAwareFilterSet``).
"""

from __future__ import annotations

import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from api.casework.serializers import CaseSerializer, PersonSerializer, ReferralSerializer
from casework.models import (
    ACTIVE_REFERRAL_STATUSES,
    Agency,
    AgencyKind,
    Case,
    CaseNote,
    Consent,
    CaseStatus,
    ConsentPurpose,
    Family,
    Person,
    Referral,
    ReferralStatus,
    RiskLevel,
    Sex,
)
from casework.selectors import referral_visible_to
from api.base import is_partner_request
from api.policies import RoleAwareFilterSet, field_of
from programmes import rules
from api.programmes.serializers import EnrolmentSerializer, StageSerializer
from programmes.selectors import stage_visible_to

MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An exact filter on a row id (a positive integer)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class BoundedDateTimeField(forms.DateTimeField):
    """A date-time the database can compare with, whatever the client's time zone."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        if not (1900 <= result.year <= 9000):
            raise ValidationError(_("Give a date-time between the years 1900 and 9000."), code="out_of_range")
        # In UTC: PostgreSQL refuses the odd offsets (e.g. +23:42) that ISO 8601 allows.
        return result.astimezone(datetime.timezone.utc)


@extend_schema_field(OpenApiTypes.DATETIME)
class UpdatedSinceFilter(django_filters.Filter):
    """Rows changed at or after an ISO 8601 date-time, for clients that sync."""

    field_class = BoundedDateTimeField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("field_name", "updated_at")
        kwargs.setdefault("lookup_expr", "gte")
        kwargs.setdefault("label", "Changed at or after this ISO 8601 date-time")
        super().__init__(*args, **kwargs)


class BoundedDateField(forms.DateField):
    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and not (1900 <= result.year <= 9000):
            raise ValidationError(_("Give a date between the years 1900 and 9000."), code="out_of_range")
        return result


class BoundedDateFilter(django_filters.DateFilter):
    field_class = BoundedDateField


class AgeBandFilter(django_filters.ChoiceFilter):
    """An age band of ``programmes.rules.AGE_BANDS``, by age today."""

    def __init__(self, *args, birth_field: str, **kwargs):
        kwargs.setdefault("choices", [(band, band) for band in rules.AGE_BANDS])
        kwargs.setdefault(
            "label",
            "Age band today: " + ", ".join(f"{band} ({limits.span})" for band, limits in rules.AGE_BANDS.items()),
        )
        self.birth_field = birth_field
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(rules.age_band_q(value, birth_field=self.birth_field))


def _in_programme(case_field: str):
    def method(queryset, name, value):
        return queryset.filter(rules.case_in_programme(value, case_field=case_field))

    return method


class PersonFilterSet(RoleAwareFilterSet):
    sex = django_filters.ChoiceFilter(choices=Sex.choices)
    age_band = AgeBandFilter(birth_field="date_of_birth")
    programme = IdFilter(method="filter_programme", label="Has a case enrolled in this programme (id)")
    operation = IdFilter(method="filter_operation", label="Has a case from this repatriation operation (id)")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Person
        fields = ["sex", "age_band", "programme", "operation", "updated_since"]
        reveals = {
            "sex": "sex",
            "age_band": "date_of_birth",
            # The person's case is enrolled there: its enrolments say so.
            "programme": field_of(EnrolmentSerializer, "programme"),
            "operation": field_of(CaseSerializer, "operation"),
            "updated_since": "updated_at",
        }

    def filter_programme(self, queryset, name, value):
        cases = Case.objects.filter(rules.case_in_programme(value), person_id=OuterRef("pk"))
        return queryset.filter(Exists(cases))

    def filter_operation(self, queryset, name, value):
        return queryset.filter(Exists(Case.objects.filter(operation_id=value, person_id=OuterRef("pk"))))


class FamilyFilterSet(RoleAwareFilterSet):
    operation = IdFilter(field_name="operation_id")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Family
        fields = ["operation", "updated_since"]
        reveals = {"operation": "operation", "updated_since": "updated_at"}


class CaseFilterSet(RoleAwareFilterSet):
    q = django_filters.CharFilter(
        field_name="reference", lookup_expr="istartswith", max_length=40, label="Case reference starts with"
    )
    status = django_filters.ChoiceFilter(choices=CaseStatus.choices)
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices)
    programme = IdFilter(method=_in_programme("pk"), label="Enrolled in this programme (id)")
    caseworker = IdFilter(field_name="caseworker_id", label="Assigned caseworker (user id)")
    agency = IdFilter(method="filter_agency", label="Has an active referral to this agency (id)")
    operation = IdFilter(field_name="operation_id", label="Repatriation operation (id)")
    family = IdFilter(field_name="family_id")
    age_band = AgeBandFilter(birth_field="person__date_of_birth")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Has an open stage past its due date")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Case
        fields = [
            "q",
            "status",
            "risk_level",
            "programme",
            "caseworker",
            "agency",
            "operation",
            "family",
            "age_band",
            "overdue",
            "updated_since",
        ]
        reveals = {
            "q": "reference",
            "status": "status",
            "risk_level": "risk_level",
            "programme": field_of(EnrolmentSerializer, "programme"),
            "caseworker": "caseworker",
            "agency": field_of(ReferralSerializer, "agency"),
            "operation": "operation",
            "family": "family",
            "age_band": field_of(PersonSerializer, "date_of_birth"),
            "overdue": field_of(StageSerializer, "is_overdue"),
            "updated_since": "updated_at",
        }

    # Both look only at the rows the caller may see itself: a partner must not learn
    # that its case is referred to another agency, or that a stage hidden from it is late.
    def filter_agency(self, queryset, name, value):
        referrals = referral_visible_to(self.request.user).filter(
            agency_id=value, status__in=ACTIVE_REFERRAL_STATUSES, case_id=OuterRef("pk")
        )
        return queryset.filter(Exists(referrals))

    def filter_overdue(self, queryset, name, value):
        overdue = rules.case_has_overdue_stage(stages=stage_visible_to(self.request.user))
        return queryset.filter(overdue) if value else queryset.exclude(overdue)


class ReferralFilterSet(RoleAwareFilterSet):
    status = django_filters.ChoiceFilter(choices=ReferralStatus.choices)
    purpose = django_filters.ChoiceFilter(choices=ConsentPurpose.choices)
    agency = IdFilter(field_name="agency_id")
    case = IdFilter(field_name="case_id", method="filter_opened")
    stage = IdFilter(field_name="stage_id", method="filter_opened")
    updated_since = UpdatedSinceFilter()

    class Meta:
        model = Referral
        fields = ["status", "purpose", "agency", "case", "stage", "updated_since"]
        reveals = {
            "status": "status",
            "purpose": "purpose",
            "agency": "agency",
            "case": "case",
            "stage": "stage",
            "updated_since": "updated_at",
        }

    def filter_opened(self, queryset, name, value):
        """A partner's pending referral does not print its case or stage, so a filter on
        them leaves it out: the answer must not tell which case waits for the agency."""
        queryset = queryset.filter(**{name: value})
        if is_partner_request(self.request):
            queryset = queryset.exclude(status=ReferralStatus.PENDING)
        return queryset


class AgencyFilterSet(RoleAwareFilterSet):
    kind = django_filters.ChoiceFilter(choices=AgencyKind.choices)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = Agency
        fields = ["kind", "is_active"]
        reveals = {"kind": "kind", "is_active": "is_active"}


class NoteFilterSet(RoleAwareFilterSet):
    case = IdFilter(field_name="case_id")

    class Meta:
        model = CaseNote
        fields = ["case"]
        reveals = {"case": "case"}


class ConsentFilterSet(RoleAwareFilterSet):
    person = IdFilter(field_name="person_id")
    agency = IdFilter(field_name="agency_id")
    purpose = django_filters.ChoiceFilter(choices=ConsentPurpose.choices)

    class Meta:
        model = Consent
        fields = ["person", "agency", "purpose"]
        reveals = {"person": "person", "agency": "agency", "purpose": "purpose"}
