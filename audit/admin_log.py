"""Django's admin log (``django_admin_log``) without names.

The admin writes each addition, change and deletion with the object's ``str()``
(a person's full name, an alias) and, for inlines, the ``str()`` of every row
added, changed or deleted. Here those become references: the row is named by
model and id (a case by its reference) and the inline objects' names are
withheld, as in the audit trail.

Two guards, because neither alone is enough: a ``pre_save`` signal rewrites
every entry as it is written, whichever admin page writes it; and retention
scrubs the entries about a person when it anonymises them, which also covers
entries written in bulk (``bulk_create`` sends no signal) and entries written
before the signal existed.
"""

from __future__ import annotations

import json

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from audit.registration import AUDITED, WITHHELD

CASE_LABEL = "casework.Case"


def _person_related(model) -> bool:
    entry = AUDITED.get(model._meta.label)
    return entry is not None and entry[1] is not None


def admin_log_label(content_type_id: int, object_id) -> str | None:
    """The reference that names a row about a person, or None for other rows (a
    programme, an agency, a user), whose names are not personal data."""
    model = ContentType.objects.get_for_id(content_type_id).model_class()
    if model is None or not _person_related(model):
        return None
    if model._meta.label == CASE_LABEL:
        reference = model._base_manager.filter(pk=object_id).values_list("reference", flat=True).first()
        if reference:
            return f"{model._meta.verbose_name} {reference}"
    return f"{model._meta.verbose_name} #{object_id}"


def change_message_scrub(message: str) -> str:
    """Withhold the names of the inline objects in a structured change message.

    A plain-text message (written by code, not by the admin's forms) is left as it is:
    the signal cannot tell what it says; retention withholds it with its person.
    """
    if not message or not message.startswith("["):
        return message
    try:
        parts = json.loads(message)
    except ValueError:
        return message
    if not isinstance(parts, list):
        return message
    for part in parts:
        if not isinstance(part, dict):
            continue
        for detail in part.values():
            if isinstance(detail, dict) and "object" in detail:
                detail["object"] = WITHHELD
    return json.dumps(parts)


def log_entry_name_withhold(sender, instance: LogEntry, **kwargs) -> None:
    """``pre_save`` of ``LogEntry``: name the row by reference, withhold inline names."""
    if instance.content_type_id is not None and instance.object_id is not None:
        label = admin_log_label(instance.content_type_id, instance.object_id)
        if label is not None:
            instance.object_repr = label[:200]
    instance.change_message = change_message_scrub(instance.change_message)


def admin_log_entries_for(*, person_ids) -> QuerySet[LogEntry]:
    """The admin log's entries about these people: about them, their names, identifiers,
    families, consents, cases and everything recorded on the cases (rows since deleted
    included: the audit trail says which rows concerned whom)."""
    from django.apps import apps

    from audit.models import AuditEntry, persons_key

    person_ids = sorted({int(pk) for pk in person_ids if pk is not None})
    if not person_ids:
        return LogEntry.objects.none()
    condition = Q()
    for label, (_withheld, path) in AUDITED.items():
        if path is None:
            continue
        model = apps.get_model(label)
        ids = [
            str(pk)
            for pk in model._base_manager.filter(**{f"{path}__in": person_ids}).values_list("pk", flat=True).distinct()
        ]
        if ids:
            condition |= Q(content_type=ContentType.objects.get_for_model(model), object_id__in=ids)
    trail = Q()
    for pk in person_ids:
        trail |= Q(persons__contains=persons_key([pk]))
    for content_type_id, object_id in (
        AuditEntry.objects.filter(trail).exclude(object_id=None).values_list("content_type_id", "object_id").distinct()
    ):
        condition |= Q(content_type_id=content_type_id, object_id=str(object_id))
    if not condition:
        return LogEntry.objects.none()
    return LogEntry.objects.filter(condition)


def admin_log_scrub_entries(entries) -> int:
    """Rewrite these entries without names: the row by reference, inline names and
    plain-text messages withheld. Idempotent."""
    changed = 0
    for entry in entries.only("pk", "content_type_id", "object_id", "object_repr", "change_message"):
        label = admin_log_label(entry.content_type_id, entry.object_id) if entry.content_type_id else None
        repr_ = (label or entry.object_repr)[:200]
        message = entry.change_message
        if message and not message.startswith("["):
            message = WITHHELD
        message = change_message_scrub(message)
        if (repr_, message) != (entry.object_repr, entry.change_message):
            # update(), not save(): the pre_save signal has nothing more to do.
            LogEntry.objects.filter(pk=entry.pk).update(object_repr=repr_, change_message=message)
            changed += 1
    return changed
