"""Issue #14: importing a cohort from a file (lifecycle.cohort_import, ``import_cohort``).
Every name, number and address here is fictional."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from casework.models import (
    Case,
    CaseNote,
    DistinctPersonPair,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    ReceivingRelative,
)
from core.roles import role_groups_sync
from lifecycle.cohort_import import COLUMNS, household_decide, pending_rows_visible_to
from lifecycle.intake import PossibleDuplicates
from lifecycle.models import CohortImport, CohortImportRow
from programmes.models import Enrolment
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


@pytest.fixture
def operation(db):
    return f.OperationFactory(code="op-cohort-1", name="Cohort operation (fictional)")


def arrived() -> str:
    return (datetime.date.today() - datetime.timedelta(days=3)).isoformat()


def rows(*, arabic: bool = True) -> list[dict]:
    """Two fictional households: a mother and two children, a father and a son."""
    return [
        dict(
            household="H1",
            relationship="head",
            given_name="Zarina",
            family_name="Importova",
            patronymic="Testovna",
            other_spellings="Зарина Импортова" + ("|زارينا إمبورتوفا" if arabic else ""),
            sex="female",
            date_of_birth="1991-03-14",
            nationality="KZ",
            languages="kk|ru",
            identifier_kind="passport",
            identifier_value="N 0000001",
            camp="Sample camp (fictional)",
            arrival_date=arrived(),
            receiving_relative="Aigul Importova (fictional)",
            receiving_phone="+7 700 000 00 01",
            receiving_address="1 Sample street, Demo town",
            receiving_relationship="sibling",
        ),
        dict(
            household="H1",
            relationship="child",
            given_name="Timur",
            family_name="Importov",
            sex="male",
            age="7",
            languages="kk",
        ),
        dict(
            household="H1",
            relationship="child",
            given_name="Амина",
            family_name="Импортова",
            sex="female",
            date_of_birth="2019",
            interpreter_language="ar",
        ),
        dict(
            household="H2",
            relationship="head",
            given_name="Rustam",
            family_name="Filetestov",
            sex="male",
            date_of_birth="1984-11-02",
            nationality="UZ",
            languages="uz|ru",
            arrival_date=arrived(),
        ),
        dict(household="H2", relationship="child", given_name="Bekzod", family_name="Filetestov", sex="male", age="12"),
    ]


def csv_bytes(records, *, encoding="utf-8", delimiter=",", header=COLUMNS) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for record in records:
        writer.writerow([record.get(name, "") for name in header])
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(records) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(COLUMNS))
    for record in records:
        values = []
        for name in COLUMNS:
            value = record.get(name, "")
            # As a spreadsheet holds them: numbers as numbers, full dates as dates.
            if name == "age" and value:
                value = int(value)
            elif name in ("date_of_birth", "arrival_date") and len(value) == 10:
                value = datetime.datetime.fromisoformat(value)
            elif name == "date_of_birth" and value:
                value = int(value)
            values.append(value)
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def run(tmp_path, content: bytes, *, name="cohort.csv", by="caseworker", extra=(), expect_error=False):
    path = tmp_path / name
    path.write_bytes(content)
    report = tmp_path / "report.json"
    out, err = io.StringIO(), io.StringIO()
    args = [str(path), "--programme", "north", "--operation", "op-cohort-1", "--report", str(report), *extra]
    if by:
        args += ["--by", by]
    if expect_error:
        with pytest.raises(CommandError) as raised:
            call_command("import_cohort", *args, stdout=out, stderr=err)
        assert raised.value.returncode == 1
    else:
        call_command("import_cohort", *args, stdout=out, stderr=err)
    return json.loads(report.read_text(encoding="utf-8")), out.getvalue(), err.getvalue()


def counts() -> dict:
    return {
        model.__name__: model.objects.count()
        for model in (Person, Family, Case, Enrolment, PersonIdentifier, CaseNote, CohortImport, CohortImportRow)
    }


def people_summary() -> list[tuple]:
    return sorted(
        (p.given_name, p.family_name, p.sex, p.date_of_birth_estimated, p.date_of_birth.year, tuple(p.languages))
        for p in Person.objects.all()
    )


# --- Registering ---------------------------------------------------------------------------


def test_a_valid_file_registers_people_families_cases_and_enrolments(tmp_path, programme, operation, caseworker):
    report, out, _err = run(tmp_path, csv_bytes(rows()))

    assert report == {
        "rows": 5,
        "created_persons": 5,
        "created_cases": 5,
        "linked": 0,
        "awaiting_review": [],
        "errors": [],
    }
    assert Family.objects.count() == 2
    h1 = FamilyMembership.objects.get(relationship="head", person__given_name="Zarina").family
    assert set(h1.memberships.values_list("person__given_name", flat=True)) == {"Zarina", "Timur", "Амина"}
    for case in Case.objects.all():
        assert case.operation == operation and case.caseworker == caseworker
        assert Enrolment.objects.get(case=case).programme == programme
    zarina = Person.objects.get(given_name="Zarina")
    assert zarina.patronymic == "Testovna" and zarina.nationality == "KZ" and zarina.languages == ["kk", "ru"]
    assert dict(PersonName.objects.filter(person=zarina).values_list("full_name", "script")) == {
        "Зарина Импортова": "cyrillic",
        "زارينا إمبورتوفا": "arabic",
    }
    assert PersonIdentifier.objects.get(person=zarina).value == "N 0000001"
    zarina_case = Case.objects.get(person=zarina)
    bodies = list(CaseNote.objects.filter(case=zarina_case).values_list("body", flat=True))
    assert any("Sample camp (fictional)" in body for body in bodies)
    # The receiving relative is a record of the family, not a note.
    assert not any("Aigul" in body for body in bodies)
    relative = ReceivingRelative.objects.get(family=zarina_case.family)
    assert (relative.name, relative.relationship, relative.phone) == (
        "Aigul Importova (fictional)",
        "sibling",
        "+7 700 000 00 01",
    )
    assert relative.address == "1 Sample street, Demo town"
    assert not zarina.interpreter_needed
    assert Person.objects.get(given_name="Амина").interpreter_language == "ar"
    amina = Person.objects.get(given_name="Амина")
    assert amina.date_of_birth_estimated and amina.date_of_birth.year == 2019
    timur = Person.objects.get(given_name="Timur")
    assert timur.date_of_birth_estimated and timur.age_on(programme.local_today()) == 7
    record = CohortImport.objects.get()
    assert (record.rows, record.created_persons, record.created_cases, record.awaiting_review) == (5, 5, 5, 0)
    # A registered row keeps its fingerprint and links, not the person's fields.
    assert all(row.data == {} and row.identifier_value == "" for row in CohortImportRow.objects.all())
    assert "5 people and 5 cases created" in out


def test_one_bad_row_writes_nothing_and_names_row_and_column(tmp_path, programme, operation, caseworker):
    records = rows()
    records[2]["sex"] = "unknown"
    records[4]["date_of_birth"] = "31/12/2011"
    records[4]["age"] = ""
    report, _out, err = run(tmp_path, csv_bytes(records), expect_error=True)

    assert counts() == dict.fromkeys(counts(), 0)
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(4, "sex"), (6, "date_of_birth")]
    assert "row 4, column sex" in err and "row 6, column date_of_birth" in err
    assert report["created_persons"] == 0 and report["rows"] == 5


def test_a_household_without_its_head_or_with_two_fails_validation(tmp_path, programme, operation, caseworker):
    records = rows()
    records[1]["relationship"] = "head"
    records[3]["relationship"] = "spouse"
    report, _out, _err = run(tmp_path, csv_bytes(records), expect_error=True)
    assert {(e["row"], e["column"]) for e in report["errors"]} == {(3, "relationship"), (5, "relationship")}
    assert Person.objects.count() == 0


def test_error_messages_never_quote_the_cells(tmp_path, programme, operation, caseworker):
    secret = "Qwzxsecret"
    records = rows()
    for column in (
        "relationship",
        "sex",
        "date_of_birth",
        "nationality",
        "languages",
        "identifier_kind",
        "arrival_date",
        "receiving_phone",
    ):
        records[0][column] = secret
    records[1]["age"] = secret
    records[2]["given_name"] = secret + "\x07"
    records[3]["family_name"] = secret * 20
    header = (*COLUMNS, secret)
    report, out, err = run(tmp_path, csv_bytes(records, header=header), expect_error=True)

    assert len(report["errors"]) >= 11
    assert secret.lower() not in (json.dumps(report, ensure_ascii=False) + out + err).lower()
    assert Person.objects.count() == 0


def test_a_service_refusal_is_reported_on_its_row(tmp_path, programme, operation, caseworker):
    records = rows()
    records[3]["arrival_date"] = (datetime.date.today() - datetime.timedelta(days=800)).isoformat()
    report, _out, _err = run(tmp_path, csv_bytes(records), expect_error=True)
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(5, "arrival_date")]
    assert Person.objects.count() == 0


# --- Formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,make",
    [
        ("utf8.csv", lambda r: csv_bytes(r)),
        ("bom.csv", lambda r: b"\xef\xbb\xbf" + csv_bytes(r)),
        ("cp1251.csv", lambda r: csv_bytes(r, encoding="cp1251", delimiter=";")),
        ("cohort.xlsx", xlsx_bytes),
    ],
)
def test_every_format_imports_alike(tmp_path, programme, operation, caseworker, name, make):
    report, _out, _err = run(tmp_path, make(rows(arabic=False)), name=name)
    assert (report["created_persons"], report["created_cases"], report["errors"]) == (5, 5, [])
    assert people_summary() == [
        ("Bekzod", "Filetestov", "male", True, datetime.date.today().year - 12 - (1 if _before_july() else 0), ()),
        ("Rustam", "Filetestov", "male", False, 1984, ("uz", "ru")),
        ("Timur", "Importov", "male", True, people_summary()[2][4], ("kk",)),
        ("Zarina", "Importova", "female", False, 1991, ("kk", "ru")),
        ("Амина", "Импортова", "female", True, 2019, ()),
    ]
    assert PersonName.objects.filter(full_name="Зарина Импортова").count() == 1
    assert Case.objects.count() == 5 and Family.objects.count() == 2


def _before_july() -> bool:
    # An age is turned into a date half a year before the birthday: in the first half
    # of the year that falls in the year before.
    return (datetime.date.today() - datetime.timedelta(days=182)).year < datetime.date.today().year


def test_the_same_rows_as_xlsx_after_a_csv_are_recognised(tmp_path, programme, operation, caseworker):
    run(tmp_path, csv_bytes(rows(arabic=False), encoding="cp1251", delimiter=";"), name="first.csv")
    before = counts()
    report, _out, _err = run(tmp_path, xlsx_bytes(rows(arabic=False)), name="again.xlsx")
    assert counts() == before
    assert (report["linked"], report["created_persons"]) == (5, 0)


# --- Re-import, review queue, dry run ------------------------------------------------------


def test_a_reimport_creates_nothing_new(tmp_path, programme, operation, caseworker):
    run(tmp_path, csv_bytes(rows()))
    before = counts()
    report, _out, _err = run(tmp_path, csv_bytes(rows()))
    assert counts() == before
    assert report == {
        "rows": 5,
        "created_persons": 0,
        "created_cases": 0,
        "linked": 5,
        "awaiting_review": [],
        "errors": [],
    }


def duplicate_file() -> bytes:
    """A later list with Zarina again (another spelling, another household) and a new family."""
    return csv_bytes(
        [
            dict(
                household="K7",
                relationship="head",
                given_name="Zarina",
                family_name="Importova",
                sex="female",
                date_of_birth="1991-03-14",
                arrival_date=arrived(),
            ),
            dict(
                household="K7", relationship="child", given_name="Dana", family_name="Importova", sex="female", age="4"
            ),
            dict(
                household="K8",
                relationship="head",
                given_name="Aliya",
                family_name="Newcomerova",
                sex="female",
                date_of_birth="1995-06-01",
                arrival_date=arrived(),
            ),
        ]
    )


def test_a_household_with_a_possible_duplicate_waits_for_review(tmp_path, programme, operation, caseworker):
    run(tmp_path, csv_bytes(rows()))
    zarina = Person.objects.get(given_name="Zarina")
    before = counts()

    report, _out, _err = run(tmp_path, duplicate_file(), name="later.csv")

    assert report["created_persons"] == 1 and report["created_cases"] == 1  # Aliya's household
    assert report["awaiting_review"] == [{"row": 2, "candidates": [{"person": zarina.pk, "score": 1.0}]}]
    assert Person.objects.count() == before["Person"] + 1
    pending = list(pending_rows_visible_to(caseworker).order_by("row_number"))
    assert [row.row_number for row in pending] == [2, 3]
    assert pending[0].candidates[0]["person"] == zarina.pk
    assert pending[1].data["given_name"] == "Dana"
    record = pending[0].cohort_import
    assert (record.created_persons, record.awaiting_review) == (1, 2)

    # Importing the file again lists the same rows again and writes nothing.
    before = counts()
    again, _out, _err = run(tmp_path, duplicate_file(), name="later.csv")
    assert counts() == before
    assert again["awaiting_review"] == report["awaiting_review"] and again["linked"] == 1

    # The caseworker decides: a different person. The household is registered through the service.
    registration = household_decide(row=pending[0], decisions={pending[0].pk: "different"}, by=caseworker)
    assert len(registration.cases) == 2
    assert DistinctPersonPair.objects.filter(decided_by=caseworker).count() == 1
    assert not pending_rows_visible_to(caseworker).exists()
    decided = CohortImportRow.objects.get(pk=pending[1].pk)
    assert decided.status == "registered" and decided.data == {} and decided.person.given_name == "Dana"
    record.refresh_from_db()
    assert (record.created_persons, record.awaiting_review) == (3, 0)


def test_an_identifier_on_file_sends_the_household_to_review(tmp_path, programme, operation, caseworker):
    run(tmp_path, csv_bytes(rows()[3:]))
    rustam = Person.objects.get(given_name="Rustam")
    PersonIdentifier.objects.create(person=rustam, kind="passport", value="XY 424242")
    record = rows()[0] | {"identifier_value": "xy424242", "given_name": "Someone", "family_name": "Else"}
    report, _out, _err = run(tmp_path, csv_bytes([record]), name="ids.csv")
    assert report["awaiting_review"] == [{"row": 2, "candidates": [{"person": rustam.pk, "score": 1.0}]}]
    assert not Person.objects.filter(given_name="Someone").exists()
    assert CohortImportRow.objects.get(status="pending").identifier_value == "xy424242"


def test_review_is_scoped_to_the_programmes_one_works_in(tmp_path, programme, operation, caseworker, other_caseworker):
    run(tmp_path, csv_bytes(rows()))
    run(tmp_path, duplicate_file(), name="later.csv")
    assert pending_rows_visible_to(caseworker).count() == 2
    assert not pending_rows_visible_to(other_caseworker).exists()
    row = pending_rows_visible_to(caseworker).first()
    with pytest.raises(Exception):  # noqa: B017 - refused, whatever the form
        household_decide(row=row, decisions={row.pk: "different"}, by=other_caseworker)
    assert CohortImportRow.objects.filter(status="pending").count() == 2


def test_an_undecided_member_keeps_the_household_pending(tmp_path, programme, operation, caseworker):
    run(tmp_path, csv_bytes(rows()))
    run(tmp_path, duplicate_file(), name="later.csv")
    row = pending_rows_visible_to(caseworker).order_by("row_number").first()
    with pytest.raises(PossibleDuplicates):
        household_decide(row=row, decisions={}, by=caseworker)
    assert pending_rows_visible_to(caseworker).count() == 2


def test_dry_run_validates_checks_duplicates_and_writes_nothing(tmp_path, programme, operation, caseworker):
    run(tmp_path, csv_bytes(rows()))
    zarina = Person.objects.get(given_name="Zarina")
    before = counts()
    report, out, _err = run(tmp_path, duplicate_file(), name="later.csv", extra=["--dry-run"])
    assert counts() == before
    assert report["awaiting_review"] == [{"row": 2, "candidates": [{"person": zarina.pk, "score": 1.0}]}]
    assert report["created_persons"] == 0 and "Dry run" in out


def test_without_by_notes_cannot_be_recorded(tmp_path, programme, operation):
    report, _out, _err = run(tmp_path, csv_bytes(rows()), by=None, expect_error=True)
    assert {e["column"] for e in report["errors"]} == {
        "camp",
        "receiving_relative",
        "receiving_phone",
        "receiving_address",
    }
    assert Person.objects.count() == 0
    report, _out, _err = run(tmp_path, csv_bytes(rows()[3:]), by=None)
    assert report["created_persons"] == 2


# --- The documented files ------------------------------------------------------------------


def test_the_template_names_every_column_and_the_sample_imports(tmp_path, programme, operation, caseworker):
    from django.conf import settings

    docs = settings.BASE_DIR / "docs"
    assert (docs / "cohort-template.csv").read_text(encoding="utf-8").strip() == ",".join(COLUMNS)
    report, _out, _err = run(tmp_path, (docs / "cohort-sample.csv").read_bytes())
    assert report["errors"] == [] and report["created_persons"] == 8 and Family.objects.count() == 3
    assert set(Case.objects.values_list("arrival_date", flat=True)) == {operation.operation_date}


# --- The admin pages -----------------------------------------------------------------------


def staff_login(client, user):
    from django.contrib.auth.models import Group

    from tests.conftest import force_login

    user.groups.add(Group.objects.get(name="Caseworkers"))
    return force_login(client, user)


def upload(client, programme, operation, content, name="cohort.csv", **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    data = {"file": SimpleUploadedFile(name, content), "programme": programme.pk, "operation": operation.pk, **extra}
    return client.post(reverse("admin:lifecycle_cohortimport_add"), data)


def test_the_upload_page_imports_or_shows_the_errors(client, programme, operation, caseworker):
    staff_login(client, caseworker)
    records = rows()
    records[1]["sex"] = "Qwzxsecret"
    response = upload(client, programme, operation, csv_bytes(records))
    assert response.status_code == 200
    page = response.content.decode()
    assert "column" in page.lower() and "Use female or male." in page and "Qwzxsecret" not in page
    assert Person.objects.count() == 0

    response = upload(client, programme, operation, csv_bytes(rows()), dry_run="on")
    assert response.status_code == 200 and Person.objects.count() == 0

    response = upload(client, programme, operation, csv_bytes(rows()))
    assert response.status_code == 200 and Person.objects.count() == 5
    assert CohortImport.objects.get().created_by == caseworker


def test_the_upload_page_refuses_another_programme(client, programme, other_programme, operation, caseworker):
    staff_login(client, caseworker)
    response = upload(client, other_programme, operation, csv_bytes(rows()))
    assert response.status_code == 200 and Person.objects.count() == 0


def test_the_review_page_shows_candidates_and_registers_a_decision(
    client, tmp_path, programme, operation, caseworker, other_caseworker
):
    from django.urls import reverse

    run(tmp_path, csv_bytes(rows()))
    run(tmp_path, duplicate_file(), name="later.csv")
    record = CohortImport.objects.order_by("-pk").first()
    url = reverse("admin:lifecycle_cohortimport_review", args=[record.pk])

    staff_login(client, other_caseworker)
    assert client.get(url).status_code == 404

    staff_login(client, caseworker)
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Зарина Импортова" in text and "same person as" in text and "Dana" in text
    flagged = CohortImportRow.objects.get(cohort_import=record, row_number=2)
    response = client.post(url, {"row": flagged.pk, f"decision-{flagged.pk}": "different"})
    assert response.status_code == 302
    assert not CohortImportRow.objects.filter(cohort_import=record, status="pending").exists()
    assert Person.objects.filter(given_name="Dana").exists()
    assert client.get(reverse("admin:lifecycle_cohortimport_changelist")).status_code == 200


def test_the_import_pages_open_for_an_administrator(client, tmp_path, programme, operation, administrator):
    from django.urls import reverse

    from tests.conftest import force_login

    run(tmp_path, csv_bytes(rows()[3:]), by=None)
    force_login(client, administrator)
    record = CohortImport.objects.get()
    for url in (
        reverse("admin:lifecycle_cohortimport_changelist"),
        reverse("admin:lifecycle_cohortimport_add"),
        reverse("admin:lifecycle_cohortimport_change", args=[record.pk]),
        reverse("admin:lifecycle_cohortimport_review", args=[record.pk]),
    ):
        assert client.get(url).status_code == 200, url
