"""Hand-over: print one case as JSON in the documented format (docs/handover.schema.json)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.context import Door, audit_context
from casework.models import Case
from lifecycle.handover import case_handover
from lifecycle.management.json_output import json_write


class Command(BaseCommand):
    help = (
        "Export one case (by reference) for hand-over to a programme that runs other software, "
        "with the id of the person's current consent to all rehabilitation services."
    )

    def add_arguments(self, parser):
        parser.add_argument("reference")
        parser.add_argument("--consent", type=int, required=True, help="Id of the consent to the hand-over.")
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args, reference, consent, output=None, **options):
        case = Case.objects.select_related("person").filter(reference=reference).first()
        if case is None:
            raise CommandError("No case with this reference.")
        try:
            with audit_context(door=Door.COMMAND):
                document = case_handover(case=case, consent_id=consent)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        json_write(self, document, output=output)
