"""Find where a person's values are stored: every text and JSON column of every table."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.context import Door, audit_context
from audit.reads import record_reads
from casework.models import Person
from lifecycle.personal_data_scan import files_find, person_values, personal_data_find


class Command(BaseCommand):
    help = (
        "List every table, column and row (and every file under --files) that holds one of a person's "
        "values: names, aliases, identifiers, place and date of birth, addresses, document numbers, free "
        "text. Prints where, and the kind of value, never the value."
    )

    def add_arguments(self, parser):
        parser.add_argument("--person", type=int, required=True, help="The person's id.")
        parser.add_argument(
            "--files",
            nargs="?",
            const=settings.EMAIL_FILE_PATH,
            help="Also search the files under this directory (default: where e-mails are written as files).",
        )

    def handle(self, *args, person, files=None, **options):
        subject = Person.objects.filter(pk=person).first()
        if subject is None:
            raise CommandError(f"No person with id {person}.")
        with audit_context(door=Door.COMMAND):
            record_reads([subject], detail=True)
            values = person_values(subject)
            findings = personal_data_find(values=values)
            if files:
                findings += files_find(directory=files, values=values)
        for finding in findings:
            self.stdout.write(f"{finding.table}\t{finding.column}\t{finding.row}\t{finding.kind}")
        searched = sum(len(found) for found in values.values())
        self.stderr.write(f"{len(findings)} places hold one of the {searched} values of person {person}.")
