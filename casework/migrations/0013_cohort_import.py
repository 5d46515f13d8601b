import casework.models
import django.db.models.deletion
import encrypted_model_fields.fields
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('casework', '0012_person_merged_into'),
        ('programmes', '0007_stage_type_referral_purposes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CohortImport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('file_name', models.CharField(max_length=255, validators=[casework.models.validate_printable_text])),
                ('file_digest', models.CharField(help_text='SHA-256 of the file as uploaded.', max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('rows', models.PositiveIntegerField(default=0)),
                ('created_persons', models.PositiveIntegerField(default=0)),
                ('created_cases', models.PositiveIntegerField(default=0)),
                ('linked', models.PositiveIntegerField(default=0)),
                ('awaiting_review', models.PositiveIntegerField(default=0)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('operation', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='cohort_imports', to='casework.repatriationoperation')),
                ('programme', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='cohort_imports', to='programmes.programme')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='CohortImportRow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('row_number', models.PositiveIntegerField()),
                ('household_key', models.CharField(max_length=100, validators=[casework.models.validate_printable_text])),
                ('fingerprint', models.CharField(db_index=True, max_length=64)),
                ('data', models.JSONField(default=dict)),
                ('identifier_value', encrypted_model_fields.fields.EncryptedCharField(blank=True, default='')),
                ('identifier_digest', models.CharField(blank=True, default='', max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Awaiting review'), ('registered', 'Registered as a new person'), ('linked', 'Linked to a person on file'), ('skipped', 'Not registered')], default='pending', max_length=10)),
                ('candidates', models.JSONField(blank=True, default=list, help_text='People who may be this person: [{person, score, reasons}], best first.')),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('case', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='casework.case')),
                ('cohort_import', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='import_rows', to='casework.cohortimport')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('person', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='casework.person')),
            ],
            options={
                'ordering': ['cohort_import', 'row_number'],
                'indexes': [models.Index(fields=['status', 'cohort_import'], name='cohort_import_row_queue_idx')],
                'constraints': [models.UniqueConstraint(fields=('cohort_import', 'row_number'), name='cohort_import_row_unique'), models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'registered', 'linked', 'skipped'])), name='cohort_import_row_status_valid')],
            },
        ),
    ]
