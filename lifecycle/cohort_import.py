"""Importing a cohort: a file of arriving people, one row a person, registered family by
family through ``lifecycle.intake.arrivals_register_many`` (``arrivals_register``'s service).

The file is CSV (UTF-8 with or without a byte-order mark, or Windows-1251; comma or
semicolon, told apart from the header line) or XLSX (the first sheet). Its first row
names the columns (``COLUMNS``); rows are numbered as a spreadsheet numbers them, the
header being row 1.

1. **Validation, of the whole file, first.** Every cell is checked, then every
   household (exactly one head, one arrival date, one receiving relative), then every
   household as the service itself checks it (``arrivals_check``). Each error names
   its row and column and says what is wrong, never what the cell holds. Any error
   and nothing is written.
2. **Registration, in batches** of ``HOUSEHOLDS_PER_TRANSACTION`` households, each
   batch in one transaction (``arrivals_register_many``); a batch that fails is
   registered again a household per transaction, so one household's failure
   (reported like a validation error) does not undo the others.
   A household with a possible duplicate (a person on file, someone already
   registered from this file, or an identifier already recorded) is not registered:
   its rows wait in the review queue (``lifecycle.CohortImportRow``, pending) until a
   caseworker decides, person by person, "same as" or "different"
   (``household_decide``), which registers the household through the same service.
3. **Re-import creates nothing.** Each row's keyed fingerprint (its normalised fields
   and the programme) is kept; a household whose rows were all imported before is
   counted as linked (or listed again as awaiting review) and not written again.

A row registered or linked keeps only its fingerprint and the ids it led to: its
parsed fields, kept while it awaits review, are erased once it is decided.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import hmac
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.bulk import log_created
from audit.context import acting_as
from lifecycle.models import CohortImport, CohortImportRow, CohortImportRowStatus
from casework.models import (
    CaseNote,
    IdentifierKind,
    Person,
    PersonIdentifier,
    Relationship,
    RepatriationOperation,
    Sex,
    identifier_digest,
    normalise_identifier,
    validate_printable_text,
    years_before,
)
from casework import selectors
from casework.duplicates import PeopleOnFile
from core import visibility
from core.roles import roles_resolved_once
from core.visibility import require_visible
from lifecycle.intake import (
    COUNTRIES,
    DIFFERENT,
    LANGUAGES,
    MAX_AGE,
    MAX_MEMBERS,
    Candidate,
    Household,
    MemberInput,
    PossibleDuplicates,
    Registration,
    arrivals_check,
    arrivals_check_many,
    arrivals_register,
    arrivals_register_many,
    estimated_date_of_birth,
    people_on_file,
)
from programmes.models import Programme

COLUMNS = (
    "household",
    "relationship",
    "given_name",
    "family_name",
    "patronymic",
    "other_spellings",
    "sex",
    "date_of_birth",
    "age",
    "nationality",
    "languages",
    "interpreter_language",
    "identifier_kind",
    "identifier_value",
    "camp",
    "arrival_date",
    "receiving_relative",
    "receiving_phone",
    "receiving_address",
    "receiving_relationship",
)
REQUIRED_COLUMNS = ("household", "relationship", "given_name", "sex")
#: The file's words for a relationship to the head, and the model's.
RELATIONSHIPS = {
    "head": Relationship.HEAD,
    "spouse": Relationship.SPOUSE,
    "child": Relationship.CHILD,
    "parent": Relationship.PARENT,
    "sibling": Relationship.SIBLING,
    "grandparent": Relationship.GRANDPARENT,
    "other": Relationship.OTHER_RELATIVE,
}
#: The most rows one file may carry.
MAX_ROWS = 10_000
HEADER_ROW = 1
#: Values in one ``IN (...)`` of a batched query.
_BATCH = 500
#: Households registered in one transaction (one failing has the others of its batch
#: registered each in its own).
HOUSEHOLDS_PER_TRANSACTION = 100
UNKNOWN_COLUMN = "Unknown column: use the template's names."

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"\d{4}")
_PHONE = re.compile(r"\+?[0-9 ()./-]{4,40}")

# The service's field names (``members.2.age``) and the file's columns.
_MEMBER_COLUMN = {
    "given_name": "given_name",
    "family_name": "family_name",
    "patronymic": "patronymic",
    "other_spellings": "other_spellings",
    "sex": "sex",
    "date_of_birth": "date_of_birth",
    "date_of_birth_estimated": "date_of_birth",
    "age": "age",
    "relationship": "relationship",
    "nationality": "nationality",
    "languages": "languages",
    "interpreter_language": "interpreter_language",
}
_HOUSEHOLD_COLUMN = {
    "arrival_date": "arrival_date",
    "relative_name": "receiving_relative",
    "relative_phone": "receiving_phone",
    "relative_address": "receiving_address",
    "relative_relationship": "receiving_relationship",
    "members": "relationship",
}
_HOUSEHOLD_FIELDS = (
    "arrival_date",
    "receiving_relative",
    "receiving_phone",
    "receiving_address",
    "receiving_relationship",
)


class CohortFileError(Exception):
    """The file cannot be read at all (not CSV or XLSX, not UTF-8 or Windows-1251)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass
class CohortRow:
    """One valid row: the member as the service takes it, and what the service does not."""

    row: int
    household: str
    member: MemberInput
    data: dict
    identifier_kind: str = ""
    identifier_value: str = ""
    camp: str = ""
    arrival_date: datetime.date | None = None
    receiving_relative: str = ""
    receiving_phone: str = ""
    receiving_address: str = ""
    receiving_relationship: str = ""
    fingerprint: str = ""
    #: People on file with the identifier given (``_find_identifier_holders``).
    identifier_holders: list[int] = field(default_factory=list)


@dataclass
class HouseholdRows:
    key: str
    rows: list[CohortRow]
    candidates: dict[int, list[Candidate]] = field(default_factory=dict)
    #: Rows imported before, when every row of the household was.
    earlier: list[CohortImportRow] = field(default_factory=list)

    def household(self, programme: Programme, operation: RepatriationOperation) -> Household:
        first = {
            name: next((getattr(r, name) for r in self.rows if getattr(r, name)), None) for name in _HOUSEHOLD_FIELDS
        }
        return Household(
            programme=programme,
            operation=operation,
            arrival_date=first["arrival_date"] or operation.operation_date,
            members=[r.member for r in self.rows],
            relative_name=first["receiving_relative"] or "",
            relative_phone=first["receiving_phone"] or "",
            relative_address=first["receiving_address"] or "",
            relative_relationship=first["receiving_relationship"] or Relationship.OTHER_RELATIVE,
        )


@dataclass
class ImportResult:
    rows: int = 0
    created_persons: int = 0
    created_cases: int = 0
    linked: int = 0
    awaiting_review: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    cohort_import: CohortImport | None = None

    def report(self) -> dict:
        return {
            "rows": self.rows,
            "created_persons": self.created_persons,
            "created_cases": self.created_cases,
            "linked": self.linked,
            "awaiting_review": sorted(self.awaiting_review, key=lambda entry: entry["row"]),
            "errors": [error.as_dict() for error in sorted(self.errors, key=lambda e: (e.row, e.column))],
        }


# --- Reading the file ----------------------------------------------------------------------


def read_table(content: bytes, file_name: str = "") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(row number, cells)]) of a CSV or XLSX file; blank rows are left out."""
    if content[:4] == b"PK\x03\x04" or file_name.lower().endswith(".xlsx"):
        table = _read_xlsx(content)
    else:
        table = _read_csv(content)
    if not table:
        raise CohortFileError(_("The file is empty."))
    (_number, header), *rows = table
    rows = [(number, cells) for number, cells in rows if any(cell.strip() for cell in cells)]
    return [cell.strip().lstrip("\ufeff").strip().lower() for cell in header], rows


def _decode(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1251")
    except UnicodeDecodeError:
        raise CohortFileError(_("Save the file as UTF-8 or Windows-1251 text, or as XLSX.")) from None


def _read_csv(content: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(content)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        raise CohortFileError(_("The file is not valid CSV (a quote is left open).")) from None
    return [(number, record) for number, record in enumerate(records, start=1)]


def _read_xlsx(content: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged or foreign file
        raise CohortFileError(_("The file is not a readable XLSX workbook.")) from None
    try:
        sheet = workbook.worksheets[0]
        return [
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        workbook.close()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- Validation --------------------------------------------------------------------------


def validate_file(
    content: bytes,
    *,
    file_name: str,
    programme: Programme,
    operation: RepatriationOperation,
    by,
    on_file: PeopleOnFile | None = None,
) -> tuple[list[HouseholdRows], int, list[RowError]]:
    """(households, number of rows, errors) of a file: every error of every row, then of
    every household, then the service's own check of every household (which also finds
    each member's duplicate candidates). Writes nothing."""
    households, count, errors = validate_rows(content, file_name=file_name, programme=programme, by=by)
    if not errors:
        errors = check_households(households, programme=programme, operation=operation, by=by, on_file=on_file)
    return households, count, errors


def validate_rows(
    content: bytes, *, file_name: str, programme: Programme, by
) -> tuple[list[HouseholdRows], int, list[RowError]]:
    """The first part of ``validate_file``: every row's cells, then every household's
    own rules, and which households were imported before. Writes nothing."""
    try:
        header, table = read_table(content, file_name)
    except CohortFileError as exc:
        return [], 0, [RowError(0, "file", str(exc))]
    errors = _header_errors(header)
    if any(error.message != UNKNOWN_COLUMN for error in errors):
        return [], len(table), errors
    if len(table) > MAX_ROWS:
        return [], len(table), [RowError(0, "file", _("Import at most %(n)d rows at once.") % {"n": MAX_ROWS})]
    today = programme.local_today()
    rows, failed = [], set()
    for number, cells in table:
        row, key = _parse_row(number, header, cells, today, programme, by, errors)
        if row is not None:
            rows.append(row)
        else:
            failed.add(key)
    # A household with a bad row is not checked as a whole: its errors would be the row's.
    households = _group([row for row in rows if row.household not in failed], errors)
    if errors:
        return households, len(table), errors
    _identifiers_unique(rows, errors)
    _earlier(households, programme, errors)
    return households, len(table), errors


def check_households(
    households: list[HouseholdRows],
    *,
    programme: Programme,
    operation: RepatriationOperation,
    by,
    on_file: PeopleOnFile | None = None,
) -> list[RowError]:
    """The second part of ``validate_file``: the service's own check of every household
    not imported before, which finds each member's duplicate candidates, against the
    people ``by`` sees (``on_file``, read once; ``people_on_file(by)``). Writes nothing."""
    errors: list[RowError] = []
    with roles_resolved_once():
        on_file = on_file if on_file is not None else people_on_file(by)
        _find_identifier_holders([h for h in households if not h.earlier], by)
        on_file.prepare(
            (row.member.given_name, row.member.family_name, row.member.other_spellings)
            for household in households
            if not household.earlier
            for row in household.rows
        )
        fresh = [household for household in households if not household.earlier]
        outcomes = arrivals_check_many(
            households=[household.household(programme, operation) for household in fresh], by=by, on_file=on_file
        )
        for household, outcome in zip(fresh, outcomes, strict=True):
            if isinstance(outcome, ValidationError):
                errors.extend(_service_errors(outcome, household))
            else:
                household.candidates = _with_identifier_holders(household, outcome)
    return errors


def _header_errors(header: list[str]) -> list[RowError]:
    """Errors of the header row; only an unknown column lets the rows be checked too."""
    errors = []
    seen = set()
    for position, name in enumerate(header, start=1):
        if not name:
            continue
        if name not in COLUMNS:
            errors.append(RowError(HEADER_ROW, f"column {position}", UNKNOWN_COLUMN))
        elif name in seen:
            errors.append(RowError(HEADER_ROW, name, _("This column appears twice.")))
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            errors.append(RowError(HEADER_ROW, name, _("This column is missing.")))
    if "date_of_birth" not in seen and "age" not in seen:
        errors.append(RowError(HEADER_ROW, "date_of_birth", _("Give a date_of_birth or an age column.")))
    return errors


def _parse_row(number, header, cells, today, programme, by, errors) -> tuple[CohortRow | None, str]:
    before = len(errors)

    def fail(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    values = {name: "" for name in COLUMNS}
    for position, cell in enumerate(cells):
        text = cell.replace("\u00a0", " ").strip()
        if position < len(header) and header[position] and header[position] not in COLUMNS:
            continue
        if position >= len(header) or not header[position]:
            if text:
                fail(f"column {position + 1}", _("A value without a column heading."))
            continue
        values[header[position]] = text

    for name in REQUIRED_COLUMNS:
        if not values[name]:
            fail(name, _("This column is required."))

    def text(column: str, limit: int) -> str:
        value = values[column]
        if not value:
            return ""
        if len(value) > limit:
            fail(column, _("Keep this under %(n)d characters.") % {"n": limit})
            return ""
        try:
            validate_printable_text(value)
        except ValidationError as exc:
            for message in exc.messages:
                fail(column, message)
            return ""
        return value

    household = text("household", 100)
    relationship = ""
    if values["relationship"]:
        relationship = RELATIONSHIPS.get(values["relationship"].lower(), "")
        if not relationship:
            fail("relationship", _("Use one of: %(words)s.") % {"words": ", ".join(RELATIONSHIPS)})
    given_name = text("given_name", 150)
    family_name = text("family_name", 150)
    patronymic = text("patronymic", 150)
    spellings = []
    for spelling in values["other_spellings"].split("|") if values["other_spellings"] else []:
        spelling = spelling.strip()
        if not spelling:
            continue
        if len(spelling) > 300:
            fail("other_spellings", _("Keep each spelling under %(n)d characters.") % {"n": 300})
            continue
        try:
            validate_printable_text(spelling)
        except ValidationError as exc:
            for message in exc.messages:
                fail("other_spellings", message)
            continue
        spellings.append(spelling)
    sex = values["sex"].lower()
    if values["sex"] and sex not in Sex.values:
        fail("sex", _("Use female or male."))

    date_of_birth, age, year_only = None, None, False
    if values["date_of_birth"]:
        date_of_birth, year_only = _date_of_birth(values["date_of_birth"], today, fail)
    if values["age"]:
        if values["age"].isdigit() and int(values["age"]) <= MAX_AGE:
            age = int(values["age"])
        else:
            fail("age", _("Give an age as a whole number from 0 to %(n)d.") % {"n": MAX_AGE})
    if not values["date_of_birth"] and not values["age"]:
        fail("date_of_birth", _("Give a date of birth or an age."))
    if date_of_birth is not None and age is not None and not year_only:
        born_age = (today.year - date_of_birth.year) - (
            (today.month, today.day) < (date_of_birth.month, date_of_birth.day)
        )
        if abs(born_age - age) > 1:
            fail("age", _("The age does not match the date of birth."))
    if date_of_birth is not None and year_only:
        # A year alone is an estimate: the age whose estimated date of birth falls in that year.
        age = _age_for_year(date_of_birth.year, today)
        date_of_birth = None
    elif date_of_birth is not None:
        age = None

    nationality = values["nationality"].upper()
    if nationality and nationality not in COUNTRIES:
        fail("nationality", _("Use an ISO 3166-1 alpha-2 country code (KZ, SY, IQ, ...)."))
    languages = [code.strip().lower() for code in values["languages"].split("|") if code.strip()]
    if any(code not in LANGUAGES for code in languages):
        fail("languages", _("Use ISO 639-1 language codes (kk, ru, ar, ...), separated by |."))
    interpreter_language = values["interpreter_language"].strip().lower()
    if interpreter_language and interpreter_language not in LANGUAGES:
        fail("interpreter_language", _("Use an ISO 639-1 language code (kk, ru, ar, ...)."))

    identifier_kind = values["identifier_kind"].lower()
    identifier_value = text("identifier_value", 100)
    if identifier_kind and identifier_kind not in IdentifierKind.values:
        fail("identifier_kind", _("Use one of: %(words)s.") % {"words": ", ".join(IdentifierKind.values)})
    if values["identifier_value"] and not identifier_kind:
        fail("identifier_kind", _("Say what kind of identifier the value is."))
    if identifier_kind and not values["identifier_value"]:
        fail("identifier_value", _("Give the identifier's value, or leave its kind empty."))
    camp = text("camp", 200)

    arrival_date = None
    if values["arrival_date"]:
        if _ISO_DATE.fullmatch(values["arrival_date"]):
            try:
                arrival_date = datetime.date.fromisoformat(values["arrival_date"])
            except ValueError:
                fail("arrival_date", _("This is not a date of the calendar."))
        else:
            fail("arrival_date", _("Write the date as YYYY-MM-DD."))
    relative = text("receiving_relative", 200)
    phone = text("receiving_phone", 40)
    if phone and not _PHONE.fullmatch(phone):
        fail("receiving_phone", _("Give a phone number of digits, spaces and + ( ) - ."))
    address = values["receiving_address"]
    receiving_relationship = ""
    if values["receiving_relationship"]:
        receiving_relationship = RELATIONSHIPS.get(values["receiving_relationship"].lower(), "")
        if not receiving_relationship:
            fail("receiving_relationship", _("Use one of: %(words)s.") % {"words": ", ".join(RELATIONSHIPS)})
    if len(address) > 1000:
        fail("receiving_address", _("The address is too long."))
        address = ""
    if by is None:
        for column, value in (("camp", camp), ("receiving_relative", relative), ("receiving_phone", phone)):
            if value:
                fail(column, _("Notes are recorded by a member of staff: run the import with --by."))
        if address:
            fail("receiving_address", _("Notes are recorded by a member of staff: run the import with --by."))

    member = MemberInput(
        given_name=given_name,
        family_name=family_name,
        patronymic=patronymic,
        other_spellings=spellings,
        sex=sex,
        relationship=relationship,
        date_of_birth=date_of_birth,
        age=age,
        nationality=nationality,
        languages=list(dict.fromkeys(languages)),
        interpreter_needed=bool(interpreter_language),
        interpreter_language=interpreter_language,
    )
    if len(errors) == before:
        _model_errors(member, today, fail)
    if len(errors) > before:
        return None, values["household"]

    data = {
        "relationship": relationship,
        "given_name": given_name,
        "family_name": family_name,
        "patronymic": patronymic,
        "other_spellings": spellings,
        "sex": sex,
        "date_of_birth": date_of_birth.isoformat() if date_of_birth else None,
        "age": age,
        "nationality": nationality,
        "languages": member.languages,
        "identifier_kind": identifier_kind,
        "camp": camp,
        "arrival_date": arrival_date.isoformat() if arrival_date else None,
        "receiving_relative": relative,
        "receiving_phone": phone,
        "receiving_address": address,
    }
    # Only when given, so that the rows of files imported before these columns keep their fingerprints.
    if interpreter_language:
        data["interpreter_language"] = interpreter_language
    if receiving_relationship:
        data["receiving_relationship"] = receiving_relationship
    fingerprint_of = {
        **data,
        "date_of_birth": values["date_of_birth"],
        "age": values["age"] if not values["date_of_birth"] else "",
        "identifier": normalise_identifier(identifier_value) if identifier_value else "",
        "programme": programme.pk,
    }
    row = CohortRow(
        row=number,
        household=household,
        member=member,
        data=data,
        identifier_kind=identifier_kind,
        identifier_value=identifier_value,
        camp=camp,
        arrival_date=arrival_date,
        receiving_relative=relative,
        receiving_phone=phone,
        receiving_address=address,
        receiving_relationship=receiving_relationship,
        fingerprint=row_fingerprint(fingerprint_of),
    )
    return row, household


def row_fingerprint(values: dict) -> str:
    """The keyed hash of a row's normalised fields (the key of identifier digests)."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hmac.new(settings.IDENTIFIER_LOOKUP_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def _date_of_birth(value: str, today: datetime.date, fail: Callable) -> tuple[datetime.date | None, bool]:
    if _YEAR.fullmatch(value):
        year = int(value)
        if not today.year - MAX_AGE <= year <= today.year:
            fail("date_of_birth", _("The year of birth is out of range."))
            return None, False
        return datetime.date(year, 7, 1), True
    if not _ISO_DATE.fullmatch(value):
        fail("date_of_birth", _("Write the date as YYYY-MM-DD, or the year alone as YYYY when only it is known."))
        return None, False
    try:
        born = datetime.date.fromisoformat(value)
    except ValueError:
        fail("date_of_birth", _("This is not a date of the calendar."))
        return None, False
    if born > today:
        fail("date_of_birth", _("The date of birth cannot be in the future."))
        return None, False
    if born < years_before(today, MAX_AGE + 1):
        fail("date_of_birth", _("The date of birth is out of range."))
        return None, False
    return born, False


def _age_for_year(year: int, today: datetime.date) -> int:
    """The age whose estimated date of birth (``estimated_date_of_birth``) is in ``year``."""
    for age in (today.year - year, today.year - year - 1, today.year - year + 1):
        if 0 <= age <= MAX_AGE and estimated_date_of_birth(age, today).year == year:
            return age
    return max(0, min(MAX_AGE, today.year - year))


def _model_errors(member: MemberInput, today: datetime.date, fail: Callable) -> None:
    """The person's model validation, for what the cells alone do not show."""
    born = member.date_of_birth or estimated_date_of_birth(member.age, today)
    person = Person(
        given_name=member.given_name,
        family_name=member.family_name,
        patronymic=member.patronymic,
        sex=member.sex,
        date_of_birth=born,
        date_of_birth_estimated=member.date_of_birth is None,
        nationality=member.nationality,
        languages=member.languages,
    )
    try:
        person.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            for message in messages:
                fail(_MEMBER_COLUMN.get(name, "given_name"), _safe(message, member))


def _safe(message: str, member: MemberInput | None = None, *texts: str) -> str:
    """A message that quotes none of the values given (a model's choice error would)."""
    values = list(texts)
    if member is not None:
        values += [member.given_name, member.family_name, member.patronymic, member.sex, member.nationality]
        values += member.other_spellings + member.languages
    for value in values:
        if value and len(value) > 1 and value.lower() in message.lower():
            return _("This value is not accepted.")
    if "'" in message or '"' in message:
        return _("This value is not accepted.")
    return message


def _group(rows: list[CohortRow], errors: list[RowError]) -> list[HouseholdRows]:
    """Rows by household, in the order of their first row, with each household's own checks."""
    grouped: dict[str, list[CohortRow]] = {}
    for row in rows:
        grouped.setdefault(row.household, []).append(row)
    households = []
    for key, members in grouped.items():
        heads = [row for row in members if row.member.relationship == Relationship.HEAD]
        if not heads:
            errors.append(RowError(members[0].row, "relationship", _("No one in this household is its head.")))
        for extra in heads[1:]:
            errors.append(RowError(extra.row, "relationship", _("This household has another head already.")))
        for extra in members[MAX_MEMBERS:]:
            errors.append(
                RowError(extra.row, "household", _("A household has at most %(n)d people.") % {"n": MAX_MEMBERS})
            )
        for name in _HOUSEHOLD_FIELDS:
            given = [(row, getattr(row, name)) for row in members if getattr(row, name)]
            for row, value in given[1:]:
                if value != given[0][1]:
                    errors.append(
                        RowError(
                            row.row,
                            name,
                            _("Rows of one household differ here: give the same value on each, or on one only."),
                        )
                    )
        households.append(HouseholdRows(key=key, rows=members))
    return households


def _identifiers_unique(rows: list[CohortRow], errors: list[RowError]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        if not row.identifier_value:
            continue
        key = (row.identifier_kind, identifier_digest(row.identifier_value))
        if key in seen:
            errors.append(
                RowError(row.row, "identifier_value", _("The same identifier is on row %(n)d.") % {"n": seen[key]})
            )
        else:
            seen[key] = row.row


def _earlier(households: list[HouseholdRows], programme: Programme, errors: list[RowError]) -> None:
    """Rows of each household imported before (same fingerprint, same programme)."""
    fingerprints = [row.fingerprint for household in households for row in household.rows]
    earlier: dict[str, CohortImportRow] = {}
    for start in range(0, len(fingerprints), _BATCH):
        earlier.update(
            (row.fingerprint, row)
            for row in CohortImportRow.objects.filter(
                cohort_import__programme=programme, fingerprint__in=fingerprints[start : start + _BATCH]
            ).exclude(status=CohortImportRowStatus.SKIPPED)
        )
    if not earlier:
        return
    for household in households:
        found = [row.fingerprint in earlier for row in household.rows]
        if all(found):
            household.earlier = [earlier[r.fingerprint] for r in household.rows]
            continue
        if not any(found):
            continue
        for row, seen in zip(household.rows, found, strict=True):
            if not seen:
                errors.append(
                    RowError(
                        row.row,
                        "household",
                        _("Part of this household was imported before: add this person on the family's page."),
                    )
                )


def _all_candidates(household: HouseholdRows, programme, operation, by, on_file) -> dict[int, list[Candidate]]:
    """The service's duplicate check, and a check of the identifiers given."""
    found = arrivals_check(household=household.household(programme, operation), by=by, on_file=on_file)
    return _with_identifier_holders(household, found)


def _with_identifier_holders(household: HouseholdRows, found: dict[int, list[Candidate]]) -> dict[int, list[Candidate]]:
    """The service's candidates, with the people on file holding an identifier given."""
    for index, row in enumerate(household.rows):
        for person_id in row.identifier_holders:
            shown = found.setdefault(index, [])
            if not any(c.person_id == person_id for c in shown):
                shown.insert(0, Candidate(score=1.0, reasons=("same identifier",), person_id=person_id))
    return found


def _find_identifier_holders(households: list[HouseholdRows], by) -> None:
    """Sets each row's ``identifier_holders``: who on file (whose identifiers ``by`` may
    see) already has the identifier given, in batched queries."""
    rows = [row for household in households for row in household.rows if row.identifier_value]
    digests = {identifier_digest(row.identifier_value): row for row in rows}
    holders_of: dict[str, list[int]] = {}
    digest_list = list(digests)
    for start in range(0, len(digest_list), _BATCH):
        holders = PersonIdentifier.objects.filter(value_digest__in=digest_list[start : start + _BATCH])
        if by is not None:
            holders = holders.filter(person_id__in=selectors.sensitive_person_visible_to(by).values("pk"))
        for digest, person_id in holders.values_list("value_digest", "person_id").distinct():
            holders_of.setdefault(digest, []).append(person_id)
    for row in rows:
        row.identifier_holders = holders_of.get(identifier_digest(row.identifier_value), [])


def _service_errors(exc: ValidationError, household: HouseholdRows, *, column: str = "") -> list[RowError]:
    """The service's errors (keys like ``members.2.age``) on the rows and columns they name."""
    errors = []
    if not hasattr(exc, "error_dict"):
        return [RowError(household.rows[0].row, column or "household", _safe(m)) for m in exc.messages]
    for key, messages in exc.message_dict.items():
        parts = key.split(".")
        if parts[0] == "members" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(household.rows):
            row = household.rows[int(parts[1])]
            name = _MEMBER_COLUMN.get(parts[2], column or "household")
            errors += [RowError(row.row, name, _safe(m, row.member)) for m in messages]
        else:
            name = _HOUSEHOLD_COLUMN.get(key, column or "household")
            errors += [RowError(household.rows[0].row, name, _safe(m)) for m in messages]
    return errors


# --- The import --------------------------------------------------------------------------


def cohort_import(
    content: bytes,
    *,
    file_name: str,
    programme: Programme,
    operation: RepatriationOperation,
    by,
    dry_run: bool = False,
    progress: Callable | None = None,
) -> ImportResult:
    """Validate the whole file, then (unless ``dry_run``, and only when it is valid)
    register it household by household. ``progress(iterable, total)`` wraps the loop
    over households (a progress bar). Raises ``NotVisible`` for a programme or an
    operation ``by`` may not use; everything else is in the result."""
    require_visible(by, programme)
    require_visible(by, operation)
    on_file = people_on_file(by)
    households, count, errors = validate_file(
        content, file_name=file_name, programme=programme, operation=operation, by=by, on_file=on_file
    )
    result = ImportResult(rows=count, errors=errors)
    if errors:
        return result
    if dry_run:
        for household in households:
            if household.earlier:
                _count_earlier(household, result)
            else:
                result.awaiting_review += _review_entries(household, household.candidates)
        return result

    return register_households(
        households,
        content=content,
        file_name=file_name,
        rows=count,
        programme=programme,
        operation=operation,
        by=by,
        progress=progress,
        result=result,
        on_file=on_file,
    )


def register_households(
    households: list[HouseholdRows],
    *,
    content: bytes,
    file_name: str,
    rows: int,
    programme: Programme,
    operation: RepatriationOperation,
    by,
    progress: Callable | None = None,
    result: ImportResult | None = None,
    on_file: PeopleOnFile | None = None,
) -> ImportResult:
    """The writing part of ``cohort_import``, for households ``validate_file`` found valid:
    each household in its own transaction, registered or put in the review queue. The
    duplicate check runs again against ``on_file`` (the one ``check_households`` used),
    which takes in each household registered."""
    result = result or ImportResult(rows=rows)
    with roles_resolved_once():
        on_file = on_file if on_file is not None else people_on_file(by)
        _register(households, result, content, file_name, rows, programme, operation, by, progress, on_file)
    return result


def _register(households, result, content, file_name, rows, programme, operation, by, progress, on_file) -> None:
    loop = progress(households, len(households)) if progress else households
    batch: list[HouseholdRows] = []
    for household in loop:
        if household.earlier:
            _count_earlier(household, result)
            continue
        if result.cohort_import is None:
            result.cohort_import = CohortImport.objects.create(
                file_name=(file_name or "upload")[-255:],
                file_digest=hashlib.sha256(content).hexdigest(),
                programme=programme,
                operation=operation,
                created_by=by,
                rows=rows,
            )
        batch.append(household)
        if len(batch) == HOUSEHOLDS_PER_TRANSACTION:
            _import_households(batch, result, programme, operation, by, on_file)
            batch = []
    if batch:
        _import_households(batch, result, programme, operation, by, on_file)
    if result.cohort_import is not None:
        record = result.cohort_import
        record.created_persons = result.created_persons
        record.created_cases = result.created_cases
        record.linked = result.linked
        record.awaiting_review = CohortImportRow.objects.filter(
            cohort_import=record, status=CohortImportRowStatus.PENDING
        ).count()
        record.save(update_fields=["created_persons", "created_cases", "linked", "awaiting_review"])


def _count_earlier(household: HouseholdRows, result: ImportResult) -> None:
    pending = [row for row in household.earlier if row.status == CohortImportRowStatus.PENDING]
    if pending:
        result.awaiting_review += [
            {"row": row.row, "candidates": _report_candidates(earlier.candidates)}
            for row, earlier in zip(household.rows, household.earlier, strict=True)
            if earlier.candidates
        ]
    else:
        result.linked += len(household.rows)


def _report_candidates(stored: list[dict]) -> list[dict]:
    return [{"person": c.get("person"), "score": c.get("score")} for c in stored]


def _candidates_json(household: HouseholdRows, candidates: dict[int, list[Candidate]]) -> dict[int, list[dict]]:
    stored = {}
    for index, found in candidates.items():
        stored[index] = [
            {
                "person": c.person_id,
                "row": household.rows[c.member].row if c.member is not None else None,
                "score": c.score,
                "reasons": list(c.reasons),
            }
            for c in found
        ]
    return stored


def _review_entries(household: HouseholdRows, candidates: dict[int, list[Candidate]]) -> list[dict]:
    stored = _candidates_json(household, candidates)
    return [
        {"row": household.rows[index].row, "candidates": _report_candidates(found)}
        for index, found in sorted(stored.items())
    ]


def _import_households(batch: list[HouseholdRows], result: ImportResult, programme, operation, by, on_file) -> None:
    """Register a batch of households through ``arrivals_register_many`` (one transaction
    for those it registers, with their identifiers, camp notes and import rows), and put
    those with candidates in the review queue."""
    record = result.cohort_import
    queued: dict[int, dict[int, list[Candidate]]] = {}
    to_register: list[HouseholdRows] = []
    for position, household in enumerate(batch):
        if any(row.identifier_holders for row in household.rows):
            # The service does not look at identifiers: one on file sends the household to review.
            queued[position] = _all_candidates(household, programme, operation, by, on_file)
        else:
            to_register.append(household)

    def written(registrations) -> None:
        pairs = [(to_register[position].rows, registration) for position, registration in registrations]
        _after_registration(pairs, by)
        now = timezone.now()
        CohortImportRow.objects.bulk_create(
            [
                CohortImportRow(
                    cohort_import=record,
                    row_number=row.row,
                    household_key=row.household,
                    fingerprint=row.fingerprint,
                    identifier_digest=identifier_digest(row.identifier_value) if row.identifier_value else "",
                    status=CohortImportRowStatus.REGISTERED,
                    person=registration.person_of(index),
                    case=registration.case_of(index),
                    decided_by=by,
                    decided_at=now,
                )
                for rows, registration in pairs
                for index, row in enumerate(rows)
            ]
        )

    outcomes = arrivals_register_many(
        households=[household.household(programme, operation) for household in to_register],
        by=by,
        on_file=on_file,
        on_written=written,
    )
    for household, outcome in zip(to_register, outcomes, strict=True):
        if isinstance(outcome, PossibleDuplicates):
            queued[batch.index(household)] = outcome.candidates
        elif isinstance(outcome, ValidationError):
            result.errors += _service_errors(outcome, household)
        else:
            result.created_persons += len(household.rows)
            result.created_cases += len(outcome.cases)
    if not queued:
        return
    pending = []
    for position in sorted(queued):
        household, candidates = batch[position], queued[position]
        stored = _candidates_json(household, candidates)
        pending += [
            CohortImportRow(
                cohort_import=record,
                row_number=row.row,
                household_key=row.household,
                fingerprint=row.fingerprint,
                data=row.data,
                identifier_value=row.identifier_value,
                identifier_digest=identifier_digest(row.identifier_value) if row.identifier_value else "",
                candidates=stored.get(index, []),
            )
            for index, row in enumerate(household.rows)
        ]
        result.awaiting_review += _review_entries(household, candidates)
    with transaction.atomic(), acting_as(by):
        CohortImportRow.objects.bulk_create(pending)


def _after_registration(pairs: list[tuple[list[CohortRow], Registration]], by) -> None:
    """What the service does not record, for each household registered (its rows and
    registration): identifiers, and the camp as a note on each member's case."""
    given = [
        (index, row, registration)
        for rows, registration in pairs
        for index, row in enumerate(rows)
        if row.identifier_value
    ]
    holders: dict[tuple[str, str], int] = {}
    digests = sorted({identifier_digest(row.identifier_value) for _index, row, _registration in given})
    for start in range(0, len(digests), _BATCH):
        for kind, digest, person_id in PersonIdentifier.objects.filter(
            issuing_country="", value_digest__in=digests[start : start + _BATCH]
        ).values_list("kind", "value_digest", "person_id"):
            holders[(kind, digest)] = person_id
    identifiers = []
    for index, row, registration in given:
        person = registration.person_of(index)
        holder = holders.get((row.identifier_kind, identifier_digest(row.identifier_value)))
        if holder is None:
            identifier = PersonIdentifier(person=person, kind=row.identifier_kind, value=row.identifier_value)
            # Its digest is free (read above) and unique in the file (``_identifiers_unique``).
            identifier.full_clean(exclude=["person"], validate_constraints=False)
            identifiers.append(identifier)
        elif holder != person.pk:
            raise ValidationError(
                {f"members.{index}.identifier_value": [_("This identifier is already recorded for someone else.")]}
            )
    PersonIdentifier.objects.bulk_create(identifiers)
    notes = [
        CaseNote(
            case=registration.case_of(index),
            author=by,
            body=_("Camp before return: %(camp)s.") % {"camp": row.camp},
        )
        for rows, registration in pairs
        for index, row in enumerate(rows)
        if row.camp
    ]
    CaseNote.objects.bulk_create(notes)
    log_created(identifiers)
    log_created(notes)


# --- The review queue ----------------------------------------------------------------------


def pending_rows_visible_to(user):
    """Rows awaiting review in the programmes ``user`` works in (every one for administrators)."""
    return visibility.rows_of(user, CohortImportRow).filter(status=CohortImportRowStatus.PENDING)


def household_rows(row: CohortImportRow) -> list[CohortImportRow]:
    """The rows of ``row``'s household in its import, in file order."""
    return list(
        CohortImportRow.objects.filter(cohort_import_id=row.cohort_import_id, household_key=row.household_key)
        .select_related("cohort_import__programme", "cohort_import__operation")
        .order_by("row_number")
    )


def _row_of(stored: CohortImportRow) -> CohortRow:
    data = stored.data
    return CohortRow(
        row=stored.row_number,
        household=stored.household_key,
        member=MemberInput(
            given_name=data["given_name"],
            family_name=data["family_name"],
            patronymic=data["patronymic"],
            other_spellings=list(data["other_spellings"]),
            sex=data["sex"],
            relationship=data["relationship"],
            date_of_birth=datetime.date.fromisoformat(data["date_of_birth"]) if data["date_of_birth"] else None,
            age=data["age"] if not data["date_of_birth"] else None,
            nationality=data["nationality"],
            languages=list(data["languages"]),
            interpreter_needed=bool(data.get("interpreter_language")),
            interpreter_language=data.get("interpreter_language", ""),
        ),
        data=data,
        identifier_kind=data["identifier_kind"],
        identifier_value=stored.identifier_value,
        camp=data["camp"],
        arrival_date=datetime.date.fromisoformat(data["arrival_date"]) if data["arrival_date"] else None,
        receiving_relative=data["receiving_relative"],
        receiving_phone=data["receiving_phone"],
        receiving_address=data["receiving_address"],
        receiving_relationship=data.get("receiving_relationship", ""),
        fingerprint=stored.fingerprint,
    )


def household_decide(*, row: CohortImportRow, decisions: dict[int, str | int], by):
    """Register the household of a pending ``row`` with a caseworker's decisions:
    ``decisions`` maps a row's id to ``"different"`` or to the id of the person on file
    it is. Through ``arrivals_register``, so the same errors answer: ``PossibleDuplicates``
    (the rows' candidates are refreshed) and ``ValidationError``; nothing is written then."""
    if not pending_rows_visible_to(by).filter(pk=row.pk).exists():
        raise ValidationError({"rows": [_("This row is not awaiting review.")]})
    stored = household_rows(row)
    if any(r.status != CohortImportRowStatus.PENDING for r in stored):
        raise ValidationError({"rows": [_("This household was decided already.")]})
    record = stored[0].cohort_import
    household = HouseholdRows(key=row.household_key, rows=[_row_of(r) for r in stored])
    by_id = {r.pk: index for index, r in enumerate(stored)}
    member_decisions = {
        by_id[int(key)]: value for key, value in decisions.items() if str(key).isdigit() and int(key) in by_id
    }
    same_as = {index for index, value in member_decisions.items() if value != DIFFERENT}
    try:
        with transaction.atomic(), acting_as(by):
            registration = arrivals_register(
                household=household.household(record.programme, record.operation), by=by, decisions=member_decisions
            )
            _after_registration([(household.rows, registration)], by)
            now = timezone.now()
            for index, stored_row in enumerate(stored):
                stored_row.status = (
                    CohortImportRowStatus.LINKED if index in same_as else CohortImportRowStatus.REGISTERED
                )
                stored_row.person = registration.person_of(index)
                stored_row.case = registration.case_of(index)
                stored_row.decided_by = by
                stored_row.decided_at = now
                stored_row.data = {}
                stored_row.identifier_value = ""
                stored_row.save()
            _recount(record)
    except PossibleDuplicates as exc:
        fresh = _candidates_json(household, exc.candidates)
        with acting_as(by):
            for index, stored_row in enumerate(stored):
                stored_row.candidates = fresh.get(index, [])
                stored_row.save(update_fields=["candidates"])
        raise
    return registration


def household_skip(*, row: CohortImportRow, by) -> None:
    """Leave a pending household unregistered (its parsed fields are erased)."""
    if not pending_rows_visible_to(by).filter(pk=row.pk).exists():
        raise ValidationError({"rows": [_("This row is not awaiting review.")]})
    with transaction.atomic(), acting_as(by):
        now = timezone.now()
        for stored_row in household_rows(row):
            stored_row.status = CohortImportRowStatus.SKIPPED
            stored_row.decided_by = by
            stored_row.decided_at = now
            stored_row.data = {}
            stored_row.identifier_value = ""
            stored_row.save()
        _recount(row.cohort_import)


def _recount(record: CohortImport) -> None:
    rows = CohortImportRow.objects.filter(cohort_import=record)
    record.created_persons = rows.filter(status=CohortImportRowStatus.REGISTERED).count()
    record.linked = rows.filter(status=CohortImportRowStatus.LINKED).count()
    record.created_cases = rows.exclude(case=None).count()
    record.awaiting_review = rows.filter(status=CohortImportRowStatus.PENDING).count()
    record.save(update_fields=["created_persons", "linked", "created_cases", "awaiting_review"])
