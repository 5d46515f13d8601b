"""Serializers of the casework API. Each declares who may read and write which field
in ``Meta.access``: the one place a resource's redaction is decided."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from casework import services
from casework.models import (
    SENSITIVE_NAME_KINDS,
    Agency,
    Case,
    CaseNote,
    Consent,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    Referral,
    ReferralStatus,
)
from api.base import ALL, Access, ApiRole, RoleAwareSerializer, access_by_role
from api.programmes.serializers import StageSummarySerializer, stage_summary
from programmes import rules


# What the API's viewsets attach to each row beside the model's fields, as plain
# values in the output's shape (see api.casework.views): a person's names and
# identifiers, a case's open stages, and whether the caller may see the row's
# sensitive details (casework.selectors.sensitive_person_visible_to and
# sensitive_case_visible_to decide).
NAME_LIST = "api_names"
IDENTIFIER_LIST = "api_identifiers"
CURRENT_STAGE_LIST = "api_current_stages"
SENSITIVE_VISIBLE = "api_sensitive_visible"

# Printed only for the rows whose sensitive details the caller may see.
SENSITIVE_PERSON_FIELDS = ("former_names", "identifiers")
SENSITIVE_CASE_FIELDS = ("legal_status",)


def without_sensitive_fields(data: dict, instance, fields) -> dict:
    """The answer without ``fields`` unless the viewset found the caller may see this
    row's sensitive details; a row it did not look at keeps them hidden."""
    if not getattr(instance, SENSITIVE_VISIBLE, False):
        for name in fields:
            data.pop(name, None)
    return data


def _name_value(name) -> dict:
    return {"full_name": name.full_name, "script": name.script, "kind": name.kind}


def _identifier_value(identifier) -> dict:
    return {"kind": identifier.kind, "value": identifier.value, "issuing_country": identifier.issuing_country}


def _iso_datetime(field: serializers.DateTimeField):
    """The field's to_representation(), with its time zone looked up once rather than
    for every value (most of its cost; a page of cases prints 400 timestamps).

    Only for aware values printed in ISO 8601, the only ones the models give; any
    other value, format or error is left to the field.
    """
    if getattr(field, "format", api_settings.DATETIME_FORMAT) != ISO_8601:
        return field.to_representation
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None:
        return field.to_representation

    def to_representation(value):
        if type(value) is not datetime.datetime or value.utcoffset() is None:
            return field.to_representation(value)
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return field.to_representation(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return to_representation


# ``to_representation()`` that reads plain model columns with one ``getattr``.
#
# A page of 100 cases prints some 4,000 values. For a model column, DRF's generic
# lookup (dotted sources, mappings, callables, PK-only objects) comes down to that
# one ``getattr``, yet costs several times as much. Each field still converts its
# own value, and every other field (nested serializers, method fields, properties)
# takes DRF's own path. Which fields are printed stays DRF's decision
# (``_readable_fields``, after RoleAwareSerializer's redaction).
# (A comment, not a docstring: the OpenAPI schema would print a docstring as the
# description of serializers that have none of their own.)
class DirectColumnsMixin:
    @cached_property
    def _column_plan(self) -> list[tuple]:
        """(name, column, converter) for plain columns, (name, None, field) for the rest."""
        attnames = {field.name: field.attname for field in self.Meta.model._meta.concrete_fields}
        plan = []
        for field in self._readable_fields:
            source = field.source_attrs[0] if len(field.source_attrs) == 1 else None
            is_nested = isinstance(field, (serializers.BaseSerializer, serializers.SerializerMethodField))
            if source not in attnames or is_nested:
                plan.append((field.field_name, None, field))
            elif isinstance(field, serializers.PrimaryKeyRelatedField) and (
                field.pk_field is None and field.use_pk_only_optimization()
            ):
                # DRF prints the foreign key's own column, e.g. ``operation_id``, as it is.
                plan.append((field.field_name, attnames[source], None))
            elif isinstance(field, serializers.RelatedField):
                plan.append((field.field_name, None, field))
            elif isinstance(field, serializers.DateTimeField):
                plan.append((field.field_name, source, _iso_datetime(field)))
            else:
                plan.append((field.field_name, source, field.to_representation))
        return plan

    def to_representation(self, instance):
        ret = {}
        for name, column, field in self._column_plan:
            if column is not None:
                value = getattr(instance, column)
                ret[name] = value if value is None or field is None else field(value)
                continue
            # DRF's Serializer.to_representation(), for this one field.
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret


class PersonNameSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonName
        fields = ["full_name", "script", "kind"]


class PersonIdentifierListSerializer(serializers.ListSerializer):
    """A person's identifiers: the values the viewset attached, or else read from the
    manager; built directly, as a serializer per identifier would cost more than the rest."""

    def get_attribute(self, instance):
        attached = getattr(instance, IDENTIFIER_LIST, None)
        if attached is not None:
            return attached
        return [_identifier_value(identifier) for identifier in super().get_attribute(instance).all()]

    def to_representation(self, data):
        return list(data)


class PersonIdentifierSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonIdentifier
        fields = ["kind", "value", "issuing_country"]
        list_serializer_class = PersonIdentifierListSerializer


class PersonSerializer(DirectColumnsMixin, RoleAwareSerializer):
    """A returnee or family member.

    ``names`` holds current names and spellings; ``former_names`` (former names
    and aliases) and ``identifiers`` are sensitive: staff read them, and only for
    the people whose sensitive details they may see (the case's own caseworker,
    the programme's supervisors, administrators); for others they are left out.
    """

    full_name = serializers.CharField(read_only=True)
    age = serializers.SerializerMethodField(help_text="Full years today (from an estimated date when flagged).")
    names = serializers.SerializerMethodField(help_text="Primary names and other spellings, in every script.")
    former_names = serializers.SerializerMethodField(help_text="Former names and aliases. Sensitive (see above).")
    identifiers = PersonIdentifierSerializer(many=True, read_only=True, help_text="Sensitive (see above).")

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

    def to_representation(self, instance):
        return without_sensitive_fields(super().to_representation(instance), instance, SENSITIVE_PERSON_FIELDS)

    @cached_property
    def _today(self):
        # One day for a whole page (a serializer lives for one request), rather than a
        # time zone lookup per row.
        return timezone.localdate()

    def get_age(self, person) -> int:
        return person.age_on(self._today)

    def _names(self, person, sensitive: bool):
        # Built directly (same shape as PersonNameSerializer): a serializer per name
        # would be most of the cost of a page of cases.
        names = getattr(person, NAME_LIST, None)
        if names is None:
            names = [_name_value(name) for name in person.names.all()]
        return [name for name in names if (name["kind"] in SENSITIVE_NAME_KINDS) == sensitive]

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


class FamilySummarySerializer(DirectColumnsMixin, serializers.ModelSerializer):
    class Meta:
        model = Family
        fields = ["id", "reference", "label"]


# The case's own columns that CaseSerializer prints (the viewset loads only these).
CASE_COLUMNS = (
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
    "created_at",
    "updated_at",
)


class CaseSerializer(DirectColumnsMixin, RoleAwareSerializer):
    """One returnee's file with the person, the family and the stages still open.

    Partners see the person (redacted), the status, the arrival date and the
    open stages they may see; never the legal status, the risk level, the
    operation or the family. Staff read the legal status only of the cases whose
    sensitive details they may see.
    """

    person = PersonSerializer(read_only=True)
    family = FamilySummarySerializer(read_only=True, allow_null=True)
    current_stages = serializers.SerializerMethodField(
        help_text="Open stages (planned, active, blocked) of the active enrolments that the caller may see."
    )

    class Meta:
        model = Case
        fields = [*CASE_COLUMNS[:-2], "current_stages", *CASE_COLUMNS[-2:]]
        read_only_fields = ["reference", "operation", "caseworker", "status", "opened_on", "closed_on"]
        access = access_by_role(
            staff=Access(read=ALL, write=("risk_level", "legal_status", "arrival_date")),
            partner=Access(
                read=("id", "reference", "person", "status", "arrival_date", "current_stages", "updated_at")
            ),
        )

    def to_representation(self, instance):
        return without_sensitive_fields(super().to_representation(instance), instance, SENSITIVE_CASE_FIELDS)

    @extend_schema_field(StageSummarySerializer(many=True))
    def get_current_stages(self, case):
        return [stage_summary(row) for row in getattr(case, CURRENT_STAGE_LIST)]


class CaseNoteSerializer(RoleAwareSerializer):
    """A note on a case: programme staff only; added, never rewritten."""

    class Meta:
        model = CaseNote
        fields = ["id", "case", "author", "body", "created_at"]
        read_only_fields = ["author", "created_at"]
        access = access_by_role(staff=Access(read=ALL, write=("case", "body")), partner=Access())

    def create(self, validated_data):
        return super().create({**validated_data, "author": self.context["request"].user})

    def persist(self, instance) -> None:
        services.case_note_add(note=instance, by=self.context["request"].user)


CONSENT_WRITABLE = ("person", "agency", "purpose", "given_by", "guardian_name", "given_on", "expires_on")


class ConsentSerializer(RoleAwareSerializer):
    """A consent to share a person's case, for a purpose (and an agency, or any). A child's
    consent is given by a parent or guardian, named (the model's rule). Withdrawn by the
    ``withdraw`` action, never edited."""

    class Meta:
        model = Consent
        fields = ["id", *CONSENT_WRITABLE, "withdrawn_on", "recorded_by", "recorded_at"]
        read_only_fields = ["withdrawn_on", "recorded_by", "recorded_at"]
        access = access_by_role(staff=Access(read=ALL, write=CONSENT_WRITABLE), partner=Access())

    def create(self, validated_data):
        return super().create({**validated_data, "recorded_by": self.context["request"].user})

    def persist(self, instance) -> None:
        services.consent_record(consent=instance, by=self.context["request"].user)


class ConsentWithdrawSerializer(serializers.Serializer):
    on = serializers.DateField(required=False, help_text="Day the consent was withdrawn; today by default.")


class CaseAssignSerializer(serializers.Serializer):
    caseworker = serializers.IntegerField(
        allow_null=True, min_value=1, help_text="The new caseworker's user id (staff of the case's programmes)."
    )


# What staff send to refer a case (``POST /referrals/``); the rest is the service's.
REFERRAL_WRITABLE = ("case", "agency", "stage", "purpose", "consent", "note")

# What a partner agency reads of a referral still waiting for its answer: what it needs
# to decide, nothing of the case's other work (no name, date of birth, stages, details,
# follow-ups or other referrals; the case itself answers 404 until the agency accepts).
# The case reference is the one its e-mail gave (``casework.referral_emails``).
PENDING_PARTNER_FIELDS = (
    "id",
    "case_reference",
    "agency",
    "purpose",
    "status",
    "age_band",
    "languages",
    "referred_on",
    "note",
    "updated_at",
)


class ReferralSerializer(RoleAwareSerializer):
    """A case, or one of its stages, handed to a partner agency. Staff make one under a
    current consent of the case's person that covers the agency and the purpose.

    While a referral waits for the agency's answer, the agency reads only what it needs
    to decide: the person's age band (not the date of birth) and languages, the purpose
    and the referring caseworker's note. Once it accepts, it reads the case as well.
    ``responded_by``, ``responded_on`` and ``response_reason`` record who answered, when
    and why.
    """

    def create(self, validated_data):
        # The referring user is the caller (the service records it too).
        return super().create({**validated_data, "referred_by": self.context["request"].user})

    def persist(self, instance) -> None:
        services.referral_create(referral=instance, by=self.context["request"].user)

    case_reference = serializers.CharField(source="case.reference", read_only=True)
    age_band = serializers.SerializerMethodField(
        help_text="The person's age band today (" + ", ".join(rules.AGE_BANDS) + "), never the date of birth."
    )
    languages = serializers.SerializerMethodField(help_text="Languages the person speaks.")

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
            "age_band",
            "languages",
            "referred_by",
            "referred_on",
            "responded_by",
            "responded_on",
            "response_reason",
            "note",
            "updated_at",
        ]
        read_only_fields = ["status", "referred_by", "referred_on", "responded_by", "responded_on", "response_reason"]
        # Printed to the schema (``api.schema``): a pending referral's answer to a partner.
        read_while = {
            "partner, while the referral is pending": PENDING_PARTNER_FIELDS,
            "partner, in its answer declining it": (*PENDING_PARTNER_FIELDS, "responded_on", "response_reason"),
        }
        access = access_by_role(
            staff=Access(read=ALL, write=REFERRAL_WRITABLE),
            partner=Access(
                read=(
                    "id",
                    "case",
                    "case_reference",
                    "agency",
                    "stage",
                    "purpose",
                    "status",
                    "age_band",
                    "languages",
                    "referred_on",
                    "responded_on",
                    "response_reason",
                    "note",
                    "updated_at",
                )
            ),
        )

    @cached_property
    def _today(self):
        return timezone.localdate()

    def get_age_band(self, referral) -> str:
        age = referral.case.person.age_on(self._today)
        for band, limits in rules.AGE_BANDS.items():
            if age >= limits.youngest and (limits.oldest is None or age <= limits.oldest):
                return band
        return ""

    def get_languages(self, referral) -> list[str]:
        return list(referral.case.person.languages or [])

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self._role() != ApiRole.PARTNER:
            return data
        if instance.status == ReferralStatus.PENDING:
            return {name: value for name, value in data.items() if name in PENDING_PARTNER_FIELDS}
        if instance.status == ReferralStatus.DECLINED:
            # The agency's own answer (the decline action's response): still nothing of the case.
            kept = self.Meta.read_while["partner, in its answer declining it"]
            return {name: value for name, value in data.items() if name in kept}
        return data


class ReferralAcceptSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=services.RESPONSE_REASON_MAX_LENGTH,
        help_text="Optional: anything the referring caseworker should know.",
    )


class ReferralDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=services.RESPONSE_REASON_MAX_LENGTH,
        help_text="Why the agency declines (required): the referring caseworker reads it.",
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
