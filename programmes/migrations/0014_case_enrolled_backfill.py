"""Marks every case that has an enrolment (``Case.enrolled``, added by casework 0018)."""

from django.db import migrations
from django.db.models import Exists, OuterRef


def mark(apps, schema_editor):
    Case = apps.get_model("casework", "Case")
    Enrolment = apps.get_model("programmes", "Enrolment")
    Case.objects.filter(Exists(Enrolment.objects.filter(case_id=OuterRef("pk")))).update(enrolled=True)


class Migration(migrations.Migration):
    dependencies = [
        ("programmes", "0013_family_tracing_and_stage_names"),
        ("casework", "0018_case_enrolled_mark"),
    ]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
