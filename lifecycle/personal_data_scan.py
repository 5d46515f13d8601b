"""Where a person's values are stored: a search of every text and JSON column of every table.

``person_values`` gathers what identifies a person (names in every script, former
names and aliases, identifiers, place of birth, the date of birth in the forms it
is written, addresses, document numbers, and the free text of their cases);
``personal_data_find`` looks for each of them in every text and JSON column of
every table of the database (found by introspection, so tables added later and
those of other libraries are searched too: the admin log, the audit trail, the
outbox, stored reports, sessions, periodic tasks, sign-in records), in the
sessions' decoded data and in the decrypted values of encrypted columns; and
``files_find`` in the files under a directory (e-mails written as files).

Retention's tests take the values before a run and prove none is left after it;
the subject export lists where the person's values are found. A finding names
the table, column, row and kind of value, never the value itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection

from casework.models import (
    CaseNote,
    CaseStatusChange,
    ClosureRequest,
    Consent,
    Family,
    NameKind,
    PersonIdentifier,
    PersonName,
    Referral,
)
from lifecycle.retention import ANONYMISED, ANONYMISED_NAME

# Shorter values match inside too many unrelated words to mean anything.
MIN_LENGTH = 3
FREE_TEXT = "free text"
TEXT_FIELD_TYPES = frozenset({"CharField", "TextField", "JSONField", "SlugField", "EmailField"})


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    row: str
    kind: str

    def as_dict(self) -> dict:
        return {"table": self.table, "column": self.column, "row": self.row, "kind": self.kind}


def date_forms(day: datetime.date) -> list[str]:
    """A date as the product and people write it: ISO, d.m.Y, d/m/Y."""
    return [day.isoformat(), day.strftime("%d.%m.%Y"), day.strftime("%d/%m/%Y")]


def person_values(person) -> dict[str, set[str]]:
    """What identifies ``person``, by kind: the values retention must erase."""
    from programmes.models import DocumentRequest, FollowUp, HousingPlacement, StageRecord, StageTransition

    values: dict[str, set[str]] = {}

    def add(kind: str, *found) -> None:
        for value in found:
            if isinstance(value, str) and value.strip():
                values.setdefault(kind, set()).add(value.strip())

    add("name", person.given_name, person.family_name, person.patronymic, person.full_name)
    for full_name, kind in PersonName.objects.filter(person=person).values_list("full_name", "kind"):
        add({NameKind.ALIAS: "alias", NameKind.FORMER: "former name"}.get(kind, "name"), full_name)
    for identifier in PersonIdentifier.objects.filter(person=person):
        add("identifier", identifier.value, "".join(identifier.value.split()))
    add("place of birth", person.place_of_birth)
    if person.date_of_birth and (person.date_of_birth.month, person.date_of_birth.day) != (1, 1):
        add("date of birth", *date_forms(person.date_of_birth))
    add("guardian name", *Consent.objects.filter(person=person).values_list("guardian_name", flat=True))
    cases = person.cases.all()
    stages = StageRecord.objects.filter(enrolment__case__in=cases)
    add("address", *HousingPlacement.objects.filter(stage__in=stages).values_list("address", flat=True))
    add("document number", *DocumentRequest.objects.filter(stage__in=stages).values_list("number", flat=True))
    free_text = [
        *CaseNote.objects.filter(case__in=cases).values_list("body", flat=True),
        *ClosureRequest.objects.filter(case__in=cases).values_list("reason", flat=True),
        *ClosureRequest.objects.filter(case__in=cases).values_list("comment", flat=True),
        *CaseStatusChange.objects.filter(case__in=cases).values_list("note", flat=True),
        *Referral.objects.filter(case__in=cases).values_list("note", flat=True),
        *stages.values_list("outcome", flat=True),
        *stages.values_list("status_reason", flat=True),
        *StageTransition.objects.filter(stage__in=stages).values_list("note", flat=True),
        *FollowUp.objects.filter(stage__in=stages).values_list("outcome", flat=True),
        *DocumentRequest.objects.filter(stage__in=stages).values_list("note", flat=True),
    ]
    add(FREE_TEXT, *free_text)
    add("family label", *Family.objects.filter(memberships__person=person).values_list("label", flat=True))
    markers = {ANONYMISED.lower(), ANONYMISED_NAME.lower()}
    return {
        kind: {value for value in found if len(value) >= MIN_LENGTH and value.lower() not in markers}
        for kind, found in values.items()
    }


def _needles(values: dict[str, Iterable[str]]) -> list[tuple[str, str]]:
    """(value, kind) pairs, longest first, each also as JSON writes it (\\u escapes)."""
    pairs = {}
    for kind, found in values.items():
        for value in found:
            if len(value) < MIN_LENGTH:
                continue
            pairs.setdefault(value, kind)
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                pairs.setdefault(escaped, kind)
    return sorted(pairs.items(), key=lambda pair: -len(pair[0]))


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_columns(cursor, table: str) -> list[str]:
    columns = []
    for column in connection.introspection.get_table_description(cursor, table):
        try:
            field_type = connection.introspection.get_field_type(column.type_code, column)
        except KeyError:
            continue
        if field_type in TEXT_FIELD_TYPES:
            columns.append(column.name)
    return columns


def _matches(text: str, needles: list[tuple[str, str]]) -> set[str]:
    folded = text.casefold()
    return {kind for value, kind in needles if value.casefold() in folded}


def _database_find(needles: list[tuple[str, str]]) -> list[Finding]:
    quote = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"
    findings = []
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            columns = _text_columns(cursor, table)
            if not columns:
                continue
            key = connection.introspection.get_primary_key_column(cursor, table) or columns[0]
            for column in columns:
                text = f"CAST({quote(column)} AS TEXT)"
                # PostgreSQL folds case in every script; SQLite's LIKE only in ASCII, so it
                # is also asked for the value as written, and the match is settled in Python.
                if postgres:
                    tests = [(f"{text} ILIKE %s ESCAPE '\\'", _like(value)) for value, _kind in needles]
                else:
                    tests = [
                        (f"{text} LIKE %s ESCAPE '\\'", _like(form))
                        for value, _kind in needles
                        for form in {value, value.lower(), value.upper()}
                    ]
                if not tests:
                    continue
                where = " OR ".join(sql for sql, _param in tests)
                cursor.execute(
                    f"SELECT {quote(key)}, {text} FROM {quote(table)} WHERE {where}",  # noqa: S608 - names from introspection
                    [param for _sql, param in tests],
                )
                for row_key, value in cursor.fetchall():
                    for kind in sorted(_matches(value or "", needles)):
                        findings.append(Finding(table, column, str(row_key), kind))
    return findings


def _decoded_find(needles: list[tuple[str, str]]) -> list[Finding]:
    """Values stored encoded: sessions' signed data, encrypted columns, the database cache."""
    from django.contrib.sessions.models import Session
    from encrypted_model_fields.fields import EncryptedMixin

    findings = []
    for session in Session.objects.all().iterator():
        text = json.dumps(session.get_decoded(), ensure_ascii=False, default=str)
        for kind in sorted(_matches(text, needles)):
            findings.append(Finding(Session._meta.db_table, "session_data (decoded)", session.pk, kind))
    for model in apps.get_models():
        encrypted = [field for field in model._meta.concrete_fields if isinstance(field, EncryptedMixin)]
        for field in encrypted:
            for pk, value in model._base_manager.values_list("pk", field.attname).iterator():
                for kind in sorted(_matches(str(value or ""), needles)):
                    findings.append(Finding(model._meta.db_table, f"{field.column} (decrypted)", str(pk), kind))
    quote = connection.ops.quote_name
    for cache in settings.CACHES.values():
        if not cache.get("BACKEND", "").endswith("DatabaseCache"):
            continue
        table = cache["LOCATION"]
        with connection.cursor() as cursor:
            if table not in connection.introspection.table_names(cursor):
                continue
            cursor.execute(f"SELECT cache_key, value FROM {quote(table)}")  # noqa: S608 - the configured table
            for key, value in cursor.fetchall():
                try:
                    text = base64.b64decode(value).decode("utf-8", errors="replace")
                except (binascii.Error, ValueError):
                    continue
                for kind in sorted(_matches(text, needles)):
                    findings.append(Finding(table, "value (decoded)", key, kind))
    return findings


def personal_data_find(*, values: dict[str, Iterable[str]]) -> list[Finding]:
    """Every place in the database where one of ``values`` (kind -> values) is stored."""
    needles = _needles(values)
    if not needles:
        return []
    return _database_find(needles) + _decoded_find(needles)


def files_find(*, directory: Path | str, values: dict[str, Iterable[str]]) -> list[Finding]:
    """Every file under ``directory`` (e-mails written as files, exports) holding one of ``values``."""
    needles = _needles(values)
    findings = []
    root = Path(directory)
    if not needles or not root.is_dir():
        return findings
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for kind in sorted(_matches(text, needles)):
            findings.append(Finding(str(path.relative_to(root)), "(file)", "", kind))
    return findings
