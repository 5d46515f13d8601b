"""Any staff list to XLSX or CSV: the rows of the list as filtered, searched and ordered,
with the columns it shows (so only the rows and fields the user may see: the list's
queryset is the selector's, its columns apply the name rule), every text cell made safe
for spreadsheets (``core.spreadsheets``), and each export recorded in the audit trail.
"""

from __future__ import annotations

import datetime
import io
from html import unescape

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import label_for_field, lookup_field
from django.db import models
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import strip_tags
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from openpyxl import Workbook

from audit.reads import record_export
from core.spreadsheets import csv_writer, spreadsheet_row

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: A list bigger than this is narrowed with its filters first.
MAX_ROWS = 20000


def _cell(field, value):
    if value is None:
        return ""
    if field is not None and getattr(field, "flatchoices", None):
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool | int | float | datetime.date):
        return value
    if isinstance(value, models.Model):
        return str(value)
    return unescape(strip_tags(str(value)))


class ExportMixin:
    """Adds "Export XLSX" and "Export CSV" to a change list (its object tools)."""

    change_list_template = "admin/export_change_list.html"
    #: columns left out of the file (the row's own link, say)
    export_exclude: tuple = ("action_checkbox",)

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "export/<str:file_format>/",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),
        ]

    def export_person_ids(self, rows) -> list:
        """The people the exported rows concern, for the audit trail."""
        return []

    def export_view(self, request, file_format):
        if file_format not in FORMATS or not self.has_view_or_change_permission(request):
            raise Http404
        changelist_url = reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(changelist_url)
        rows = list(changelist.queryset[: MAX_ROWS + 1])
        if len(rows) > MAX_ROWS:
            self.message_user(
                request, _("More than %(n)d rows: narrow the list first.") % {"n": MAX_ROWS}, messages.ERROR
            )
            return HttpResponseRedirect(changelist_url)
        columns = [name for name in changelist.list_display if name not in self.export_exclude]
        header = [capfirst(str(label_for_field(name, self.model, self))) for name in columns]
        body = []
        for row in rows:
            values = []
            for name in columns:
                field, _attr, value = lookup_field(name, row, self)
                values.append(_cell(field, value))
            body.append(values)
        record_export(
            self.model, [row.pk for row in rows], person_ids=self.export_person_ids(rows), file_format=file_format
        )
        name = f"{self.model._meta.model_name}s-{datetime.date.today().isoformat()}.{file_format}"
        response = HttpResponse(_file(file_format, header, body), content_type=FORMATS[file_format])
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


def _file(file_format: str, header: list, body: list) -> bytes:
    if file_format == "csv":
        stream = io.StringIO()
        writer = csv_writer(stream)
        writer.writerow(header)
        writer.writerows(
            [[value.isoformat() if isinstance(value, datetime.date) else value for value in row] for row in body]
        )
        # A byte-order mark: spreadsheets then read the names in every script as UTF-8.
        return ("\ufeff" + stream.getvalue()).encode()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(spreadsheet_row(header))
    for row in body:
        sheet.append(spreadsheet_row(row))
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()
