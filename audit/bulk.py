"""Audit entries for rows written with ``bulk_create``, which sends no signal.

A service that writes many rows at once (the cohort import's registration) calls
``log_created`` with the saved rows: each gets the entry django-auditlog would
have written on ``save()``, the same changes (masked as ``audit.registration``
says), the same actor, door and agency (``AuditEntry.save``), the row's label and
the people it concerns. The entries are written in one ``bulk_create``, and the
people of every row of one model are read in one query.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditlog.cid import get_cid
from auditlog.context import auditlog_disabled
from auditlog.diff import get_field_value, get_fields_in_model, get_mask_function, is_primitive
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django.utils.encoding import smart_str

from audit.context import current
from audit.models import AuditEntry, agency_id_for, persons_key
from audit.registration import AUDITED, audit_label

#: Entries written by one INSERT.
BATCH_SIZE = 1000


def _persons_by_pk(model, rows: Sequence[Model]) -> dict[int, list[int]]:
    """pk -> the people each row concerns (``audit.registration.person_ids_of``), in one query."""
    entry = AUDITED.get(model._meta.label)
    if entry is None or entry[1] is None:
        return {}
    path = entry[1]
    if "__" not in path:
        return {row.pk: [value] for row in rows if (value := getattr(row, path, None)) is not None}
    found: dict[int, list[int]] = {}
    for pk, person_id in model._base_manager.filter(pk__in=[row.pk for row in rows]).values_list("pk", path):
        if person_id:
            found.setdefault(pk, []).append(person_id)
    return found


def _changes_of_created(model, sample: Model):
    """``model_instance_diff(None, row)`` for rows of ``model``, with what depends on the
    model alone (its fields, their masks, the value "before") worked out once."""
    use_json = settings.AUDITLOG_STORE_JSON_CHANGES
    model_fields = auditlog.get_model_fields(model)
    fields = list(get_fields_in_model(sample))
    if model_fields["include_fields"]:
        fields = [field for field in fields if field.name in model_fields["include_fields"]]
    if model_fields["exclude_fields"]:
        fields = [field for field in fields if field.name not in model_fields["exclude_fields"]]
    masked = set(model_fields["mask_fields"])
    mask = get_mask_function(model_fields.get("mask_callable"))
    # A row created has nothing before: each field's value is its "no object" value.
    before = {field.name: get_field_value(None, field, use_json) for field in fields}

    def changes_of(row) -> dict | None:
        changes = {}
        for field in fields:
            old, new = before[field.name], get_field_value(row, field, use_json)
            if old == new:
                continue
            if field.name in masked:
                changes[field.name] = (mask(smart_str(old)), mask(smart_str(new)))
            elif not use_json:
                changes[field.name] = (smart_str(old), smart_str(new))
            else:
                changes[field.name] = (
                    old if is_primitive(old) else smart_str(old),
                    new if is_primitive(new) else smart_str(new),
                )
        return changes or None

    return changes_of


def log_created(rows: Sequence[Model]) -> None:
    """Write the "created" entry of each row (saved, all of one model, registered with auditlog)."""
    if not rows or auditlog_disabled.get(False):
        return
    model = type(rows[0])
    content_type = ContentType.objects.get_for_model(model)
    persons = _persons_by_pk(model, rows)
    context = current()
    actor = context.actor()
    values = {
        "content_type_id": content_type.pk,
        "action": AuditEntry.Action.CREATE,
        "cid": get_cid(),
        "actor_id": actor.pk if actor is not None else None,
        "actor_email": (getattr(actor, "email", None) or None) if actor is not None else None,
        "door": context.door,
        "agency_id": agency_id_for(actor, context) if actor is not None else None,
        "timestamp": timezone.now(),
    }
    verbose_name = str(model._meta.verbose_name)
    changes_of = _changes_of_created(model, rows[0])
    entries = []
    for row in rows:
        changes = changes_of(row)
        if not changes:
            continue
        entries.append(
            {
                **values,
                "object_pk": str(row.pk),
                "object_id": row.pk if isinstance(row.pk, int) else None,
                "object_repr": audit_label(row, verbose_name=verbose_name),
                "changes": changes,
                "persons": persons_key(persons.get(row.pk, [])),
            }
        )
    _insert(entries)


def _insert(entries: list[dict]) -> None:
    """Insert the entries (attribute -> value): on PostgreSQL with a binary ``COPY`` (no
    row is read back; the trail's triggers refuse only changes and deletions), elsewhere
    with ``bulk_create``. The other columns take their model defaults."""
    if not entries:
        return
    if connection.vendor != "postgresql":
        AuditEntry.objects.bulk_create([AuditEntry(**entry) for entry in entries], batch_size=BATCH_SIZE)
        return
    fields = [field for field in AuditEntry._meta.concrete_fields if not field.primary_key]
    defaults = {field.attname: field.get_default() for field in fields}
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor() as probe:
            probe.execute(f"SELECT {columns} FROM {table} LIMIT 0")
            types = [column.type_code for column in probe.description]
        with raw.cursor() as writer, writer.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for entry in entries:
                copy.write_row([entry.get(field.attname, defaults[field.attname]) for field in fields])
