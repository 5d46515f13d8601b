"""Which models the change log follows, which of their values it withholds, and whom each row concerns.

Values that identify a person or are free text (names, identifiers, addresses,
notes, reasons, outcomes) are recorded as changed but not copied, and a date of
birth keeps only its year: the trail says who changed the name and when, and the person's data lives in one place
only, where retention can erase it.
"""

from __future__ import annotations

import re

from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.auth import get_user_model

WITHHELD = "[withheld]"


def withhold(value: str) -> str:
    """The mask for personal values: whether there was one, never what it was."""
    return WITHHELD if value not in ("", "None", None) else ""


_ISO_DATE = re.compile(r"(\d{4})-\d{2}-\d{2}")


def withhold_keeping_year(value: str) -> str:
    """The mask for a person's row: a date (of birth) keeps its year, which age
    statistics need, and withholds the day and month, which could identify; other
    values are withheld whole."""
    match = _ISO_DATE.fullmatch(value or "")
    if match:
        return f"{match.group(1)}-{WITHHELD}"
    return withhold(value)


# Masks by model, where a model needs another than ``withhold``.
MASKS = {"casework.Person": "audit.registration.withhold_keeping_year"}

# model label -> (fields whose values are withheld, path from the row to its person's id)
AUDITED: dict[str, tuple[tuple[str, ...], str | None]] = {
    "casework.Person": (
        ("given_name", "family_name", "patronymic", "place_of_birth", "date_of_birth", "phone"),
        "id",
    ),
    "casework.PersonName": (("full_name",), "person_id"),
    "casework.PersonIdentifier": (("value", "value_digest"), "person_id"),
    "casework.Family": (("label",), "memberships__person_id"),
    "casework.FamilyMembership": ((), "person_id"),
    "casework.ReceivingRelative": (("name", "phone", "address"), "family__memberships__person_id"),
    "casework.DistinctPersonPair": ((), "person_a_id"),
    "casework.RepatriationOperation": ((), None),
    "casework.Agency": ((), None),
    "casework.Case": ((), "person_id"),
    "casework.CaseNote": (("body",), "case__person_id"),
    "casework.Consent": (("guardian_name",), "person_id"),
    "casework.Referral": (("note",), "case__person_id"),
    "casework.ClosureRequest": (("reason", "comment"), "case__person_id"),
    "lifecycle.CohortImport": ((), None),
    "lifecycle.TransferRequest": (("reason", "comment"), "case__person_id"),
    "lifecycle.CohortImportRow": (
        ("household_key", "data", "identifier_value", "identifier_digest", "candidates"),
        "person_id",
    ),
    "programmes.Programme": ((), None),
    "programmes.ProgrammeMembership": ((), None),
    "programmes.StageType": ((), None),
    "programmes.Enrolment": ((), "case__person_id"),
    "programmes.StageRecord": (("outcome", "status_reason"), "enrolment__case__person_id"),
    "programmes.FollowUp": (("outcome",), "stage__enrolment__case__person_id"),
    "programmes.AccommodationStay": ((), "stage__enrolment__case__person_id"),
    "programmes.PsychologicalSession": (("practitioner",), "stage__enrolment__case__person_id"),
    "programmes.SchoolPlacement": ((), "stage__enrolment__case__person_id"),
    "programmes.DocumentRequest": (("number", "note"), "stage__enrolment__case__person_id"),
    "programmes.HousingPlacement": (("address",), "stage__enrolment__case__person_id"),
    "programmes.EmploymentPlacement": ((), "stage__enrolment__case__person_id"),
    "programmes.RelativeContact": (("relative_name", "reason"), "stage__enrolment__case__person_id"),
    "justice.LegalProceeding": (
        ("charges", "authority", "detention_place", "representative", "reporting_duty"),
        "case__person_id",
    ),
    "justice.CourtHearing": (("notes",), "proceeding__case__person_id"),
}
# Bookkeeping that changes on every save says nothing an auditor needs, nor does a
# mark derived from other audited rows (a case's ``enrolled``: its enrolments are audited).
EXCLUDED_FIELDS = ["created_at", "updated_at", "search_key", "recorded_at", "version", "enrolled"]


def register_models() -> None:
    for label, (withheld, _path) in AUDITED.items():
        model = apps.get_model(label)
        names = {field.name for field in model._meta.get_fields()}
        auditlog.register(
            model,
            exclude_fields=[name for name in EXCLUDED_FIELDS if name in names],
            mask_fields=[name for name in withheld if name in names],
            mask_callable=MASKS.get(label, "audit.registration.withhold"),
        )
    # Accounts and their roles: who may do what is audited too; secrets never are.
    auditlog.register(
        get_user_model(),
        exclude_fields=["password", "last_login"],
        m2m_fields={"groups", "user_permissions"},
    )


def person_ids_of(instance) -> list[int]:
    """The people a row concerns, for searching the trail by person."""
    entry = AUDITED.get(instance._meta.label)
    if entry is None or entry[1] is None:
        return []
    path = entry[1]
    if "__" not in path:
        value = getattr(instance, path, None)
        return [value] if value is not None else []
    if instance.pk is None:
        return []
    return [pk for pk in type(instance)._base_manager.filter(pk=instance.pk).values_list(path, flat=True) if pk]


def audit_label(instance, *, verbose_name: str | None = None) -> str:
    """A name for the row that identifies no one: the case reference where there is one.
    ``verbose_name``, the model's, spares translating it again for many rows."""
    label = verbose_name if verbose_name is not None else instance._meta.verbose_name
    reference = getattr(instance, "reference", None)
    if instance._meta.label == "casework.Case" and reference:
        return f"{label} {reference}"
    return f"{label} #{instance.pk}"
