"""Subject access: print everything held about one person as JSON."""

from django.core.management.base import BaseCommand, CommandError

from audit.context import Door, audit_context
from casework.models import Person
from lifecycle.management.json_output import json_write
from lifecycle.subject_access import JSON_ENCODER, person_export


class Command(BaseCommand):
    help = "Export everything the system holds about one person (by id) as JSON, for a data-protection request."

    def add_arguments(self, parser):
        parser.add_argument("person_id", type=int)
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args, person_id, output=None, **options):
        person = Person.objects.filter(pk=person_id).first()
        if person is None:
            raise CommandError(f"No person with id {person_id}.")
        with audit_context(door=Door.COMMAND):
            data = person_export(person=person)
        json_write(self, data, output=output, encoder=JSON_ENCODER)
