import programmes.models
from django.db import migrations, models


# The standard catalogue's mapping at the time of this migration, by stage kind (a
# copy, not an import: a migration must not change when the code does).
PURPOSES_BY_KIND = {
    "accommodation": ["general"],
    "psychological": ["general", "psychosocial", "health"],
    "schooling": ["general", "schooling"],
    "documents": ["general", "documents"],
    "housing": ["general", "housing"],
    "employment": ["general", "employment"],
    "other": ["general"],
}


def fill_referral_purposes(apps, schema_editor):
    """Existing stage types get the purposes the standard catalogue gives their kind."""
    StageType = apps.get_model("programmes", "StageType")
    for kind, purposes in PURPOSES_BY_KIND.items():
        StageType.objects.filter(kind=kind).update(referral_purposes=purposes)


class Migration(migrations.Migration):

    dependencies = [
        ('programmes', '0006_name_characters'),
    ]

    operations = [
        migrations.AddField(
            model_name='stagetype',
            name='referral_purposes',
            field=models.JSONField(blank=True, default=list, help_text='The referral purposes that cover this stage: a partner agency referred for one of them sees and works on this stage, once it has accepted the referral. Empty: no partner does.', validators=[programmes.models.validate_referral_purposes]),
        ),
        migrations.RunPython(fill_referral_purposes, migrations.RunPython.noop),
    ]
