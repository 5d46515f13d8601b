"""Install the daily retention sweep; administrators can change its time in the admin (Periodic tasks)."""

from django.db import migrations

RETENTION_NAME = "Retention: anonymise personal data past its retention period"


def install(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=RETENTION_NAME,
        defaults={"task": "casework.apply_retention", "crontab": nightly, "enabled": True},
    )


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=RETENTION_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0006_retention_and_archive"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
