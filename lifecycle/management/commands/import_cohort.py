"""Import a cohort of arriving people from a CSV or XLSX file (``lifecycle.cohort_import``)."""

import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.context import Door, audit_context
from casework.models import RepatriationOperation
from core.errors import NotVisible
from lifecycle.cohort_import import cohort_import
from programmes.models import Programme


class Command(BaseCommand):
    help = (
        "Import a cohort (one row a person, CSV or XLSX): validate the whole file, then register it household "
        "by household; households with possible duplicates wait in the review queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV (UTF-8 or Windows-1251; comma or semicolon) or XLSX file.")
        parser.add_argument("--programme", required=True, help="Code of the programme the cases are enrolled in.")
        parser.add_argument("--operation", required=True, help="Code of the repatriation operation.")
        parser.add_argument(
            "--by",
            help="Username of the member of staff the import is recorded as (needed for the camp and the "
            "receiving relative, which are recorded as notes); the duplicate check looks at the people they see.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and run the duplicate check only.")
        parser.add_argument("--report", help="Write the report as JSON to this file.")

    def handle(self, *args, file, programme, operation, by=None, dry_run=False, report=None, **options):
        path = Path(file)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        programme_row = Programme.objects.filter(code=programme).first()
        if programme_row is None:
            raise CommandError(f"No programme with code {programme}.")
        operation_row = RepatriationOperation.objects.filter(code=operation).first()
        if operation_row is None:
            raise CommandError(f"No operation with code {operation}.")
        user = None
        if by:
            user = get_user_model().objects.filter(username=by, is_active=True, is_staff=True).first()
            if user is None:
                raise CommandError(f"No active member of staff named {by}.")

        def progress(households, total):
            return tqdm(
                households,
                total=total,
                desc="households",
                unit="household",
                file=sys.stderr,
                disable=options.get("verbosity", 1) < 1,
            )

        with audit_context(door=Door.COMMAND, user=user):
            try:
                result = cohort_import(
                    content,
                    file_name=path.name,
                    programme=programme_row,
                    operation=operation_row,
                    by=user,
                    dry_run=dry_run,
                    progress=progress,
                )
            except NotVisible:
                raise CommandError(f"{by} does not work in programme {programme}.") from None
        data = result.report()
        if report:
            Path(report).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        for error in result.errors:
            self.stderr.write(str(error))
        summary = (
            f"{data['rows']} rows: {data['created_persons']} people and {data['created_cases']} cases created, "
            f"{data['linked']} rows already on file, {len(data['awaiting_review'])} rows awaiting review, "
            f"{len(data['errors'])} errors."
        )
        if dry_run:
            summary = "Dry run, nothing written. " + summary
        self.stdout.write(summary)
        if result.errors:
            if dry_run or not (data["created_persons"] or data["awaiting_review"] or data["linked"]):
                raise CommandError("The file has errors: nothing was written.", returncode=1)
            raise CommandError("Some households could not be registered; the others were.", returncode=1)
