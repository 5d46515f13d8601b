"""Helpers for posting admin forms as a browser would: the page's own values, changed where a test says."""

from __future__ import annotations

import datetime


def _plain(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if hasattr(value, "pk"):
        return str(value.pk)
    return str(value)


def _form_values(form, data):
    for name in form.fields:
        value = _plain(form[name].value())
        if value in ("", []):
            continue
        data[form.add_prefix(name)] = value


def admin_form_data(response, **changes) -> dict:
    """The POST body of the admin change or add page in ``response``, with ``changes`` applied."""
    context = response.context
    data: dict = {}
    _form_values(context["adminform"].form, data)
    for inline in context.get("inline_admin_formsets", []):
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = _plain(management[name].value())
        for form in formset.initial_forms:
            _form_values(form, data)
        # No new inline rows unless a test adds them.
        data[management.add_prefix("TOTAL_FORMS")] = str(len(formset.initial_forms))
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}
