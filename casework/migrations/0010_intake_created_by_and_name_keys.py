import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH = 2000


def recompute_name_keys(apps, schema_editor):
    """Name keys now carry token skeletons and word boundaries (casework.names):
    recompute the stored ones, reading only the name columns, a batch of rows at a
    time by primary key (no cursor held open over the table being written)."""
    from casework.names import name_key

    Person = apps.get_model("casework", "Person")
    PersonName = apps.get_model("casework", "PersonName")

    connection = schema_editor.connection
    quote = connection.ops.quote_name

    def write(table, changed):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One statement per batch rather than one round trip per row.
                cursor.execute(
                    f"UPDATE {quote(table)} AS t SET search_key = v.key "
                    "FROM unnest(%s::text[], %s::bigint[]) AS v(key, id) WHERE t.id = v.id",
                    [[key for key, _ in changed], [pk for _, pk in changed]],
                )
            else:
                cursor.executemany(f"UPDATE {quote(table)} SET search_key = %s WHERE id = %s", changed)

    def in_batches(model, columns, key_of):
        last = 0
        while True:
            rows = list(model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "search_key", *columns)[:BATCH])
            if not rows:
                return
            last = rows[-1][0]
            changed = []
            for pk, current, *parts in rows:
                key = key_of(*parts)
                if key != current:
                    changed.append((key, pk))
            if changed:
                write(model._meta.db_table, changed)

    in_batches(
        Person,
        ["given_name", "patronymic", "family_name"],
        lambda *names: name_key(" ".join(part for part in names if part)),
    )
    in_batches(PersonName, ["full_name"], name_key)


class Migration(migrations.Migration):

    dependencies = [
        ('casework', '0009_retention_run'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='family',
            name='created_by',
            field=models.ForeignKey(editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='person',
            name='created_by',
            field=models.ForeignKey(editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(recompute_name_keys, migrations.RunPython.noop, elidable=True),
    ]
