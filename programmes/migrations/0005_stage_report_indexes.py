from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('programmes', '0004_programme_retention'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='stagerecord',
            index=models.Index(condition=models.Q(('started_on__isnull', False)), fields=['started_on'], name='stage_started_idx'),
        ),
        migrations.AddIndex(
            model_name='stagerecord',
            index=models.Index(condition=models.Q(('status', 'completed')), fields=['completed_on'], name='stage_completed_idx'),
        ),
    ]
