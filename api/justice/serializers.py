"""Serializers of the justice track. ``Meta.access`` is the one place a field's redaction
is decided: a partner referred for legal aid reads the proceeding but never the charges
nor the hearings' notes, and writes nothing."""

from __future__ import annotations

from api.base import ALL, Access, RoleAwareSerializer, access_by_role
from justice import selectors, services
from justice.models import CourtHearing, LegalProceeding

PROCEEDING_WRITABLE = (
    "case",
    "stage",
    "opened_on",
    "authority",
    "charges",
    "verdict",
    "verdict_on",
    "sentence_kind",
    "sentence_months",
    "sentence_start",
    "detained_since",
    "detention_place",
    "expected_release_on",
    "actual_release_on",
    "representation",
    "representative",
    "reporting_duty",
    "reporting_until",
    "travel_ban",
    "travel_ban_until",
)
# Free text about the offence: staff only (and never in an e-mail).
PROCEEDING_WITHHELD_FROM_PARTNERS = ("charges", "created_by")
HEARING_WRITABLE = ("proceeding", "held_on", "court", "outcome", "notes")
HEARING_WITHHELD_FROM_PARTNERS = ("notes",)


def justice_access(*, fields: list[str], writable: tuple[str, ...], withheld: tuple[str, ...]) -> dict:
    """Staff who see the row read it all and write ``writable``; a partner reads the rest, writes nothing."""
    return access_by_role(
        staff=Access(read=ALL, write=writable),
        partner=Access(read=tuple(name for name in fields if name not in withheld)),
    )


class JusticeSerializer(RoleAwareSerializer):
    """A writable relation offers the rows the caller records (``scoped_relation``), and a
    write goes through the track's service (``save_service``)."""

    scoped_relation: tuple[str, object] = ("", None)
    save_service = None

    def _scope_related_field(self, name, field) -> None:
        super()._scope_related_field(name, field)
        relation, rows_of = self.scoped_relation
        if name == relation and not field.read_only:
            # The staff side of the justice rule, not every row the caller sees.
            field.queryset = rows_of(self.context["request"].user)

    def persist(self, instance) -> None:
        request = self.context.get("request")
        type(self).save_service(instance, by=getattr(request, "user", None))


class LegalProceedingSerializer(JusticeSerializer):
    scoped_relation = ("case", selectors.legal_cases_of)
    save_service = staticmethod(lambda instance, by: services.proceeding_save(proceeding=instance, by=by))

    class Meta:
        model = LegalProceeding
        fields = ["id", *PROCEEDING_WRITABLE, "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]
        access = justice_access(fields=fields, writable=PROCEEDING_WRITABLE, withheld=PROCEEDING_WITHHELD_FROM_PARTNERS)


class CourtHearingSerializer(JusticeSerializer):
    scoped_relation = ("proceeding", selectors.proceeding_recordable_by)
    save_service = staticmethod(lambda instance, by: services.hearing_save(hearing=instance, by=by))

    class Meta:
        model = CourtHearing
        fields = ["id", *HEARING_WRITABLE, "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        access = justice_access(fields=fields, writable=HEARING_WRITABLE, withheld=HEARING_WITHHELD_FROM_PARTNERS)
