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

    def in_batches(model, columns, key_of):
        quote = schema_editor.connection.ops.quote_name
        update = f"UPDATE {quote(model._meta.db_table)} SET {quote('search_key')} = %s WHERE {quote('id')} = %s"
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
                with schema_editor.connection.cursor() as cursor:
                    cursor.executemany(update, changed)

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
