"""Bodies and answers of ``POST /api/v1/arrivals/``.

The body is read into ``lifecycle.intake``'s ``Household`` and ``MemberInput``; the
service decides the rules (one head, an age or a date of birth, the country and
language lists, the model's own validation). These serializers only check the shape,
so that every answer of bad input names its fields the way the service does
(``members.2.age``), never quoting what was sent.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.base import MAX_ID
from casework.models import Relationship, Sex
from lifecycle.intake import DIFFERENT, MAX_AGE, MAX_MEMBERS

UNKNOWN_FIELDS_MESSAGE = _("Leave out the fields this endpoint does not take.")
DECISIONS_MESSAGE = _("Give an object mapping each member's index to a decision.")
DECISION_INDEX_MESSAGE = _("Name each member by their index in members (0 for the first).")
DECISION_VALUE_MESSAGE = _("Give the id of one of the people listed, or register the member as someone new.")


class ClosedSerializer(serializers.Serializer):
    """Refuses a body with fields it does not declare (without naming them: a key may be
    anything), so that a misspelt field is not dropped silently."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and any(key not in self.fields for key in data):
            raise serializers.ValidationError({"non_field_errors": [UNKNOWN_FIELDS_MESSAGE]})
        return super().to_internal_value(data)


class ArrivalMemberSerializer(ClosedSerializer):
    """One arriving person: a date of birth or an age, and their relationship to the head."""

    given_name = serializers.CharField(max_length=150)
    family_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    patronymic = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    other_spellings = serializers.ListField(
        child=serializers.CharField(max_length=300, allow_blank=True),
        required=False,
        default=list,
        max_length=20,
        help_text="The name as written in other scripts or spellings, one per item.",
    )
    sex = serializers.ChoiceField(choices=Sex.choices)
    date_of_birth = serializers.DateField(required=False, allow_null=True, default=None)
    age = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=MAX_AGE,
        help_text="Full years, instead of a date of birth: recorded as an estimated date of birth.",
    )
    relationship = serializers.ChoiceField(
        choices=Relationship.choices, help_text="Relationship to the head of the family (exactly one head)."
    )
    nationality = serializers.CharField(
        max_length=2, required=False, allow_blank=True, default="", help_text="ISO 3166-1 alpha-2 code."
    )
    languages = serializers.ListField(
        child=serializers.CharField(max_length=3),
        required=False,
        default=list,
        max_length=20,
        help_text="ISO 639-1 codes.",
    )
    place_of_birth = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    interpreter_needed = serializers.BooleanField(
        required=False, default=False, help_text="Talking with this person needs an interpreter."
    )
    interpreter_language = serializers.CharField(
        max_length=3,
        required=False,
        allow_blank=True,
        default="",
        help_text="ISO 639-1 code of the interpreter's language; implies interpreter_needed.",
    )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "enum": [DIFFERENT]},
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            ]
        },
        "description": (
            'The answer to a 409: member index ("0", "1"...) -> "different" (register them, and do not '
            "offer these people together again) or the id of the person on file they are."
        ),
    }
)
class DecisionsField(serializers.Field):
    """``{"<member index>": "different" | <person id>}``, read into ``{index: decision}``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", dict)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict) or len(data) > MAX_MEMBERS:
            raise serializers.ValidationError(str(DECISIONS_MESSAGE))
        decisions = {}
        for key, value in data.items():
            if not (isinstance(key, str) and key.isdigit() and len(key) <= 3):
                raise serializers.ValidationError(str(DECISION_INDEX_MESSAGE))
            # The values are checked with the members (``ArrivalSerializer.validate``), so
            # that their errors are keyed by member like the service's.
            decisions[int(key)] = value
        return decisions

    def to_representation(self, value):
        return {str(index): decision for index, decision in value.items()}


class ArrivalSerializer(ClosedSerializer):
    """An arriving family: the household, its members and, after a 409, the decisions."""

    programme = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="A programme the caller works in.")
    operation = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        default=None,
        help_text="Repatriation operation.",
    )
    arrival_date = serializers.DateField(help_text="Within the programme's last year, not after its today.")
    relative_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    relative_phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    relative_address = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    relative_relationship = serializers.ChoiceField(
        choices=Relationship.choices,
        required=False,
        default=Relationship.OTHER_RELATIVE,
        help_text="The receiving relative's relationship to the head of the family.",
    )
    members = ArrivalMemberSerializer(
        many=True, max_length=MAX_MEMBERS, help_text="At most 20 people, exactly one of them the head, in any order."
    )
    decisions = DecisionsField()

    def validate(self, attrs):
        count = len(attrs["members"])
        errors = {}
        for index, value in attrs.get("decisions", {}).items():
            if index >= count:
                errors[f"members.{index}.decision"] = [str(DECISION_INDEX_MESSAGE)]
            elif not (value == DIFFERENT or _is_id(value)):
                errors[f"members.{index}.decision"] = [str(DECISION_VALUE_MESSAGE)]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


# --- Answers ---------------------------------------------------------------------------------


class RegisteredMemberSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The member's index in the request's members.")
    person = serializers.IntegerField(help_text="The person's id (one already on file when decided the same).")
    case = serializers.IntegerField(help_text="The new case's id.")
    reference = serializers.CharField(help_text="The new case's reference.")


class RegistrationSerializer(serializers.Serializer):
    family = serializers.IntegerField(help_text="The new family's id.")
    family_reference = serializers.CharField()
    members = RegisteredMemberSerializer(many=True, help_text="In the order of the request's members.")


class DuplicateCandidateSerializer(serializers.Serializer):
    person = serializers.IntegerField(
        required=False, help_text="A person on file the caller may see (absent for another member)."
    )
    member = serializers.IntegerField(
        required=False, help_text="Another member of this request who may be the same person (typed twice?)."
    )
    score = serializers.FloatField(help_text="How alike, from 0 to 1.")
    reasons = serializers.ListField(child=serializers.CharField(), help_text='E.g. "same name", "same date of birth".')
    birth_year = serializers.IntegerField(required=False, allow_null=True)
    birth_year_estimated = serializers.BooleanField(required=False)
    reference = serializers.CharField(
        required=False, allow_null=True, help_text="The person's latest case the caller may see."
    )
    family_reference = serializers.CharField(
        required=False, allow_null=True, help_text="A family of the person's the caller may see."
    )


class PossibleDuplicatesSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="possible_duplicates")
    candidates = serializers.DictField(
        child=DuplicateCandidateSerializer(many=True),
        help_text=(
            "Member index -> possible duplicates, best first. Send the same body again with "
            "`decisions` for each of these members."
        ),
    )
