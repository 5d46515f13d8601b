"""Cells for every CSV file or spreadsheet the product writes: text cannot start a formula.

Excel, LibreOffice and Google Sheets read a cell that begins with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula, so a name
typed as ``=HYPERLINK("https://…", "Open")`` would become a live link, or worse,
in a supervisor's copy of a report. As OWASP recommends ("CSV Injection"), such
text is written with a leading single quote, which spreadsheets show as text.

Only text is changed: numbers are written as the numbers they are, so a negative
count stays a number a spreadsheet can add up. Every writer goes through
``csv_writer`` (or ``spreadsheet_row`` for a writer of another format).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

# The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """``value``, with a quote before text that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def spreadsheet_row(values: Iterable[Any]) -> list[Any]:
    return [spreadsheet_cell(value) for value in values]


class _SafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow(spreadsheet_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream, **options) -> _SafeWriter:
    """A ``csv.writer`` on ``stream`` whose text cells cannot start a formula."""
    return _SafeWriter(csv.writer(stream, **options))
