"""Formula cells: every CSV or spreadsheet the product writes shows text as text."""

from __future__ import annotations

import csv
import io

import pytest

from core.spreadsheets import FORMULA_TRIGGERS, csv_writer, spreadsheet_cell, spreadsheet_row
from programmes import reports
from programmes.models import StageReport
from tests.test_reports import W47, caseload, clock  # noqa: F401 (fixtures)

LINK = '=HYPERLINK("https://example.org/x","Open")'


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_a_text_cell_starting_a_formula_is_written_with_a_leading_quote(first):
    assert first in FORMULA_TRIGGERS
    text = f"{first}1+1"
    assert spreadsheet_cell(text) == f"'{text}"
    buffer = io.StringIO()
    csv_writer(buffer).writerow(["code", text])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["code", f"'{text}"]


@pytest.mark.parametrize("text", ["", "Psychological care", "Мектеп / School / مدرسة", "2026-W47", "1-2", " =1", "'=1"])
def test_other_text_is_written_as_it_is(text):
    assert spreadsheet_cell(text) == text


def test_numbers_stay_numbers_even_when_negative():
    assert spreadsheet_row([-3, -1.5, 0, 2, None, True]) == [-3, -1.5, 0, 2, None, True]
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerows([[-3, -1.5, "-3"]])
    assert buffer.getvalue().splitlines() == ["-3,-1.5,'-3"]


@pytest.mark.django_db
def test_a_stage_type_name_starting_a_formula_is_quoted_in_the_stage_report_csv(programme, caseload):  # noqa: F811
    programme.stage_types.filter(code="school").update(name=LINK)
    programme.stage_types.filter(code="psychological").update(name="-1+cmd|' /C calc'!A0")
    report, _ = reports.report_store(programme=programme, period=W47)
    for text in (report.csv, reports.report_csv(reports.report_build(programme=programme, period=W47))):
        table = {row["code"]: row for row in read_csv(text)}
        assert table["school"]["name"] == "'" + LINK
        assert table["psychological"]["name"] == "'-1+cmd|' /C calc'!A0"
        assert table["accommodation"]["name"] == "Supervised accommodation"
        # Counts are numbers, not quoted text.
        assert table["accommodation"]["active"].lstrip("-").isdigit()
    assert StageReport.objects.get().csv == report.csv
