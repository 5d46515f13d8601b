"""Create the demo accounts and a deterministic, clearly fictional caseload, with a
pending cohort import whose rows wait in the review queue."""

import datetime
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from accounts.two_factor import secret_base32
from casework.models import Case
from justice.demo import demo_justice_reset, demo_justice_seed
from lifecycle.demo import demo_imports_reset, demo_pending_import
from lifecycle.demo_partners import demo_partners_seed
from lifecycle.demo_transfers import demo_transfer_seed, demo_transfers_reset
from programmes.demo import demo_accounts_ensure, demo_data_reset, demo_seed, demo_totp_devices


class _Steps:
    """Prints each writing step of the seed as it starts, and how long the one before took."""

    def __init__(self, out, *, before):
        self.out, self.before, self.current, self.started = out, before, None, None

    def start(self, name: str | None) -> None:
        now = time.monotonic()
        if self.current is None and name is not None:
            self.before()  # the drawing's progress bar ends where the writing starts
        if self.out is not None and self.current is not None:
            self.out.write(f"  writing {self.current}: {now - self.started:.1f} s")
        self.current, self.started = name, now


class Command(BaseCommand):
    help = "Create demo accounts and demo data (about SIZE returnees in two programmes)."

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=700, help="Number of returnees (default 700).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed; the same seed gives the same data.")
        parser.add_argument(
            "--today", type=datetime.date.fromisoformat, help="Day the data is relative to (YYYY-MM-DD)."
        )
        parser.add_argument("--reset", action="store_true", help="Delete existing casework data first.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if there are cases already.")
        parser.add_argument("--force", action="store_true", help="Allow running with DJANGO_DEBUG off.")

    def handle(self, *args, size, seed, today, reset, if_empty, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates accounts with known passwords; refusing with DJANGO_DEBUG off.")
        if size < 1:
            raise CommandError("--size must be at least 1.")
        if Case.objects.exists():
            if if_empty:
                self.stdout.write("Cases exist already; demo data left as it is, demo accounts refreshed.")
                self.print_accounts(demo_accounts_ensure(seed=seed))
                return
            if not reset:
                raise CommandError("There is data already: pass --reset to replace it, or --if-empty to keep it.")
            demo_imports_reset()
            demo_transfers_reset()
            demo_justice_reset()
            demo_data_reset()
        verbose = options["verbosity"] >= 1
        with tqdm(total=size, desc="returnees", unit="person", disable=not verbose, file=self.stderr) as bar:
            steps = _Steps(self.stderr if verbose else None, before=bar.close)
            result = demo_seed(size=size, seed=seed, today=today, progress=bar.update, phase=steps.start)
            steps.start(None)
        if connection.vendor == "postgresql":
            # Tables just bulk-loaded have no statistics yet: without them the planner
            # guesses every table tiny, and the demo import's duplicate check below (every
            # person the importer sees) ran for minutes at --size 100000 instead of seconds.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        result.counts.update(demo_justice_seed(seed=seed, today=today))
        result.passwords.update(demo_partners_seed(seed=seed, today=today))
        for model, count in result.counts.items():
            self.stdout.write(f"  {model:<22} {count:>8}")
        pending = demo_pending_import()
        if pending is not None:
            self.stdout.write(
                f"A demo cohort import: {pending.created_persons} people registered,"
                f" {len(pending.awaiting_review)} rows awaiting review (admin: Cohort imports)."
            )
        moving = demo_transfer_seed()
        if moving is not None:
            self.stdout.write(
                f"A demo transfer: case {moving.case.reference} from {moving.from_programme.code}"
                f" to {moving.to_programme.code}, awaiting the receiving supervisor (admin: Transfer requests)."
            )
        self.print_accounts(result.passwords)

    def print_accounts(self, passwords):
        self.stdout.write(self.style.SUCCESS("Demo accounts (demo data only; never reuse these passwords):"))
        for username in passwords:
            self.stdout.write(f"  {username:<12} {passwords[username]}")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo two-factor keys (demo only): after the password the admin asks these accounts for a code."
            )
        )
        self.stdout.write(
            "Add a key to an authenticator app (or run: oathtool --totp -b KEY) and enter its current code:"
        )
        for device in demo_totp_devices():
            self.stdout.write(f"  {device.user.get_username():<12} TOTP key {secret_base32(device).replace(' ', '')}")
            self.stdout.write(f"  {'':<12} {device.config_url}")
