import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH = 2000


def recompute_name_keys(apps, schema_editor):
    """Name keys now carry token skeletons and word boundaries (casework.names):
    recompute the stored ones, reading only the name columns, in batches."""
    from casework.names import name_key

    Person = apps.get_model("casework", "Person")
    PersonName = apps.get_model("casework", "PersonName")

    def in_batches(model, rows, key_of):
        changed = []
        for pk, current, *parts in rows.iterator(chunk_size=BATCH):
            key = key_of(*parts)
            if key != current:
                changed.append(model(pk=pk, search_key=key))
            if len(changed) >= BATCH:
                model.objects.bulk_update(changed, ["search_key"])
                changed = []
        if changed:
            model.objects.bulk_update(changed, ["search_key"])

    in_batches(
        Person,
        Person.objects.order_by().values_list("pk", "search_key", "given_name", "patronymic", "family_name"),
        lambda *names: name_key(" ".join(part for part in names if part)),
    )
    in_batches(PersonName, PersonName.objects.order_by().values_list("pk", "search_key", "full_name"), name_key)


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
