"""Read auditing: what django-auditlog lacks. Every read of a case, person, family or
note by a person or a partner token leaves one entry per kind of row and request,
with the ids returned (a list read) or the object opened (a detail read).

The API's base viewset and the admin's mixin below are the only callers, so a new
endpoint or admin page over these models is audited without further code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from audit.models import AuditEntry, persons_key
from audit.registration import audit_label


#: model label -> the people a batch of its rows concerns. The apps whose reads are
#: audited register their models at start-up (``casework.apps``): ``register_reads``.
READ_AUDITED: dict = {}


def register_reads(rules: dict) -> None:
    READ_AUDITED.update(rules)


def is_read_audited(model) -> bool:
    return model._meta.label in READ_AUDITED


def record_reads(rows: Iterable, *, detail: bool = False) -> None:
    """One access entry per kind of audited row read; ``detail`` for an object opened on its own."""
    if not settings.AUDIT_READS:
        return
    by_model = defaultdict(list)
    for row in rows:
        if row is not None and is_read_audited(type(row)):
            by_model[type(row)].append(row)
    entries = []
    for model, items in by_model.items():
        ids = [row.pk for row in items]
        single = detail and len(items) == 1
        entries.append(
            AuditEntry(
                content_type=ContentType.objects.get_for_model(model),
                object_pk=str(ids[0]) if single else "",
                object_id=ids[0] if single else None,
                object_repr=audit_label(items[0]) if single else f"{len(ids)} × {model._meta.verbose_name}",
                action=LogEntry.Action.ACCESS,
                object_ids=None if single else ids,
                persons=persons_key(READ_AUDITED[model._meta.label](items)),
            )
        )
    for entry in entries:
        # save() stamps actor, door and agency from the audit context.
        entry.save()


class ReadAuditedAdminMixin:
    """Admin lists and pages of audited models record what they showed."""

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}) or {}
        if "cl" in changelist:
            record_reads(list(changelist["cl"].result_list))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        context = getattr(response, "context_data", None) or {}
        original = context.get("original")
        if original is not None and request.method == "GET":
            record_reads([original], detail=True)
            overview = context.get("overview")
            notes = getattr(overview, "notes", None)
            if notes:
                record_reads(notes)
        return response


def record_refused_read(model, requested_id, *, door_note: str = "") -> None:
    """A read that was refused (answered as missing): who asked, through which door, for which
    kind of row and id. Nothing of the row, which the caller may not see, is written; the
    requested id is kept only when it is a plain number."""
    if not settings.AUDIT_READS:
        return
    text = str(requested_id or "")
    object_id = int(text) if text.isdigit() and len(text) <= 18 else None
    AuditEntry(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=str(object_id) if object_id is not None else "",
        object_id=object_id,
        object_repr=f"refused: {model._meta.verbose_name}",
        action=LogEntry.Action.ACCESS,
        additional_data={"refused": True, **({"via": door_note} if door_note else {})},
        persons="",
    ).save()


def record_export(model, ids: list, *, person_ids: Iterable, file_format: str) -> None:
    """An export from a staff list: who, which kind of rows, their ids, whom they concern and
    the format. Recorded whatever ``AUDIT_READS`` says: a file leaves the system."""
    AuditEntry(
        content_type=ContentType.objects.get_for_model(model),
        object_pk="",
        object_id=None,
        object_repr=f"export: {len(ids)} × {model._meta.verbose_name}",
        action=LogEntry.Action.ACCESS,
        object_ids=list(ids),
        additional_data={"export": file_format},
        persons=persons_key(person_ids),
    ).save()
