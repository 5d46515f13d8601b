"""Anonymise the personal data of closed cases past their programme's retention period."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from audit.context import Door, audit_context
from lifecycle import retention


class Command(BaseCommand):
    help = (
        "Anonymise closed cases (and their people) whose retention period has passed, each case in its own "
        "transaction; a case that fails is reported and tried again on the next run. --dry-run lists them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what would be anonymised; change nothing.")
        parser.add_argument("--today", help="Pretend today is this day (YYYY-MM-DD), e.g. to preview a future run.")

    def handle(self, *args, dry_run=False, today=None, **options):
        try:
            day = datetime.date.fromisoformat(today) if today else None
        except ValueError:
            raise CommandError("--today must be a date as YYYY-MM-DD") from None
        plan = retention.retention_plan(today=day)
        verb = "Would anonymise" if dry_run else "Anonymising"
        for reference, closed_on, expires in plan.cases:
            self.stdout.write(f"{verb} case {reference} (closed {closed_on}, retention ended {expires})")
        if dry_run:
            summary = f"{len(plan.case_ids)} cases and {len(plan.person_ids)} people"
            self.stdout.write(self.style.SUCCESS(f"Would anonymise {summary}."))
            return
        with audit_context(door=Door.COMMAND):
            result = retention.retention_apply(plan=plan)
        summary = f"{len(result.case_ids)} cases and {len(result.person_ids)} people"
        self.stdout.write(self.style.SUCCESS(f"Anonymised {summary}."))
        for failure in result.failures:
            subject = f"case {failure['case']}" if "case" in failure else f"person {failure['person']}"
            self.stderr.write(
                f"Not anonymised: {subject} at step {failure['step']}: {failure['error']} (tried again next run)"
            )
        if result.failures:
            # The others are done and committed; a non-zero exit tells the scheduler to look.
            raise CommandError(f"{len(result.failures)} could not be anonymised; see the retention runs in the admin.")
