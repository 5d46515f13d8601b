"""Anonymise the personal data of closed cases past their programme's retention period."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from audit.context import Door, audit_context
from casework import retention


class Command(BaseCommand):
    help = "Anonymise closed cases (and their people) whose retention period has passed. --dry-run lists them."

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
        if not dry_run and plan:
            with audit_context(door=Door.COMMAND):
                retention.retention_apply(plan=plan)
        summary = f"{len(plan.case_ids)} cases and {len(plan.person_ids)} people"
        self.stdout.write(self.style.SUCCESS(f"{'Would anonymise' if dry_run else 'Anonymised'} {summary}."))
