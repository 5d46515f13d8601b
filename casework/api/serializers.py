"""Serializers of the casework API. Each declares who may read and write which field
in ``Meta.access``: the one place a resource's redaction is decided."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casework.models import (
    SENSITIVE_NAME_KINDS,
    Agency,
    Case,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    Referral,
)
from config.api_base import ALL, Access, RoleAwareSerializer, access_by_role
from programmes.api.serializers import StageSummarySerializer, stage_summary


class PersonNameSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonName
        fields = ["full_name", "script", "kind"]


class PersonIdentifierSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonIdentifier
        fields = ["kind", "value", "issuing_country"]


class PersonSerializer(RoleAwareSerializer):
    """A returnee or family member.

    ``names`` holds current names and spellings; ``former_names`` (former names
    and aliases) and ``identifiers`` are sensitive and reach staff only.
    """

    full_name = serializers.CharField(read_only=True)
    age = serializers.SerializerMethodField(help_text="Full years today (from an estimated date when flagged).")
    names = serializers.SerializerMethodField(help_text="Primary names and other spellings, in every script.")
    former_names = serializers.SerializerMethodField(help_text="Former names and aliases. Staff only.")
    identifiers = PersonIdentifierSerializer(many=True, read_only=True, help_text="Staff only.")

    class Meta:
        model = Person
        fields = [
            "id",
            "given_name",
            "patronymic",
            "family_name",
            "full_name",
            "sex",
            "date_of_birth",
            "date_of_birth_estimated",
            "age",
            "place_of_birth",
            "nationality",
            "languages",
            "names",
            "former_names",
            "identifiers",
            "created_at",
            "updated_at",
        ]
        access = access_by_role(
            staff=Access(
                read=ALL,
                write=(
                    "given_name",
                    "patronymic",
                    "family_name",
                    "sex",
                    "date_of_birth",
                    "date_of_birth_estimated",
                    "place_of_birth",
                    "nationality",
                    "languages",
                ),
            ),
            partner=Access(
                read=(
                    "id",
                    "given_name",
                    "patronymic",
                    "family_name",
                    "full_name",
                    "sex",
                    "date_of_birth",
                    "date_of_birth_estimated",
                    "age",
                    "languages",
                    "names",
                    "updated_at",
                ),
            ),
        )

    def get_age(self, person) -> int:
        return person.age_on(timezone.localdate())

    def _names(self, person, sensitive: bool):
        # Built directly (same shape as PersonNameSerializer): a serializer per name
        # would be most of the cost of a page of cases.
        return [
            {"full_name": name.full_name, "script": name.script, "kind": name.kind}
            for name in person.names.all()
            if (name.kind in SENSITIVE_NAME_KINDS) == sensitive
        ]

    @extend_schema_field(PersonNameSerializer(many=True))
    def get_names(self, person):
        return self._names(person, sensitive=False)

    @extend_schema_field(PersonNameSerializer(many=True))
    def get_former_names(self, person):
        return self._names(person, sensitive=True)


class PersonSearchSerializer(serializers.Serializer):
    """A name search: sent in the body so that names stay out of URLs and access logs."""

    name = serializers.CharField(min_length=2, max_length=150, trim_whitespace=True)


class FamilyMemberSerializer(serializers.ModelSerializer):
    person = serializers.IntegerField(source="person_id", read_only=True)
    full_name = serializers.CharField(source="person.full_name", read_only=True)

    class Meta:
        model = FamilyMembership
        fields = ["person", "full_name", "relationship", "role"]


class FamilySerializer(RoleAwareSerializer):
    """A household with each member's relationship to its head. Staff only."""

    members = FamilyMemberSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Family
        fields = ["id", "reference", "label", "operation", "members", "created_at", "updated_at"]
        access = access_by_role(staff=Access(read=ALL), partner=Access())


class FamilySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Family
        fields = ["id", "reference", "label"]


class CaseSerializer(RoleAwareSerializer):
    """One returnee's file with the person, the family and the stages still open.

    Partners see the person (redacted), the status, the arrival date and the
    open stages they may see; never the legal status, the risk level, the
    operation or the family.
    """

    person = PersonSerializer(read_only=True)
    family = FamilySummarySerializer(read_only=True, allow_null=True)
    current_stages = serializers.SerializerMethodField(
        help_text="Open stages (planned, active, blocked) of the active enrolments that the caller may see."
    )

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "person",
            "family",
            "operation",
            "caseworker",
            "status",
            "risk_level",
            "legal_status",
            "arrival_date",
            "opened_on",
            "closed_on",
            "current_stages",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["reference", "operation", "caseworker", "status", "opened_on", "closed_on"]
        access = access_by_role(
            staff=Access(read=ALL, write=("risk_level", "legal_status", "arrival_date")),
            partner=Access(read=("id", "reference", "person", "status", "arrival_date", "current_stages", "updated_at")),
        )

    @extend_schema_field(StageSummarySerializer(many=True))
    def get_current_stages(self, case):
        today = timezone.localdate()
        return [
            stage_summary(stage, today)
            for enrolment in case.active_enrolments
            for stage in enrolment.current_stage_list
        ]


class ReferralSerializer(RoleAwareSerializer):
    """A case, or one of its stages, handed to a partner agency."""

    case_reference = serializers.CharField(source="case.reference", read_only=True)

    class Meta:
        model = Referral
        fields = [
            "id",
            "case",
            "case_reference",
            "agency",
            "stage",
            "purpose",
            "consent",
            "status",
            "referred_by",
            "referred_on",
            "responded_on",
            "note",
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
                    "agency",
                    "stage",
                    "purpose",
                    "status",
                    "referred_on",
                    "responded_on",
                    "note",
                    "updated_at",
                )
            ),
        )


class AgencySerializer(RoleAwareSerializer):
    class Meta:
        model = Agency
        fields = ["id", "code", "name", "kind", "is_active"]
        access = access_by_role(
            staff=Access(read=ALL),
            partner=Access(read=ALL),
            administrator=Access(read=ALL, write=("code", "name", "kind", "is_active")),
        )
