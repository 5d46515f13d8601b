"""Entries written before the trail withheld the day and month of birth keep only the year.

The one change ever made to existing entries, and only to take personal data out:
the append-only trigger is lifted for this statement and put back in the same
transaction (PostgreSQL), or dropped and re-created (SQLite).
"""

import json
import re

from django.db import migrations

ISO_DATE = re.compile(r"(\d{4})-\d{2}-\d{2}")
WITHHELD = "[withheld]"


def _year_only(value):
    if isinstance(value, str):
        match = ISO_DATE.fullmatch(value)
        if match:
            return f"{match.group(1)}-{WITHHELD}"
    return value


def withhold_day_and_month(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    person_type = ContentType.objects.filter(app_label="casework", model="person").first()
    if person_type is None:
        return
    connection = schema_editor.connection
    table = connection.ops.quote_name("audit_auditentry")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, changes FROM {table} WHERE content_type_id = %s", [person_type.pk])
        rewrites = []
        for pk, changes in cursor.fetchall():
            data = json.loads(changes) if isinstance(changes, str) else changes
            if not isinstance(data, dict) or "date_of_birth" not in data:
                continue
            values = data["date_of_birth"]
            masked = [_year_only(value) for value in values] if isinstance(values, list) else values
            if masked != values:
                data["date_of_birth"] = masked
                rewrites.append((json.dumps(data), pk))
        if not rewrites:
            return
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses to run while deferred foreign-key checks wait in the transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_entry_append_only")
        elif connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        value = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
        cursor.executemany(f"UPDATE {table} SET changes = {value} WHERE id = %s", rewrites)
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER audit_entry_append_only")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        elif connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_auditentry "
                "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(withhold_day_and_month, migrations.RunPython.noop)]
