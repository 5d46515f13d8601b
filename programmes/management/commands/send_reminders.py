"""Run one reminder sweep in the foreground and print what it sent (or, with --dry-run, would send)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from notifications import delivery
from notifications.models import Notification, NotificationStatus
from programmes.reminders import reminders_materialize


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = "Materialise due reminders and send every due notification now, in this process."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what would be sent; change nothing.")

    def handle(self, *args, dry_run, **options):
        if dry_run:
            try:
                with transaction.atomic():
                    due = reminders_materialize()
                    pending = list(self._pending())
                    raise _DryRun
            except _DryRun:
                pass
            self.stdout.write(f"{due} reminder(s) due today; {len(pending)} notification(s) would be sent:")
            for notification in pending:
                self.stdout.write(f"  would send #{notification.pk} {self._describe(notification)}")
            return
        reaped = delivery.notifications_reap()
        due = reminders_materialize()
        sent = failed = 0
        for notification in self._pending():
            outcome = delivery.notification_send_now(notification_id=notification.pk)
            if outcome == "skipped":
                continue
            sent += outcome == "sent"
            failed += outcome == "failed"
            self.stdout.write(f"  {outcome:<9} #{notification.pk} {self._describe(notification)}")
        self.stdout.write(f"{due} reminder(s) due today; sent {sent}, failed {failed}; reaper: {reaped}")

    def _pending(self):
        from django.utils import timezone

        return (
            Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=timezone.now())
            .select_related("recipient")
            .order_by("id")
        )

    @staticmethod
    def _describe(notification):
        return (
            f"{notification.kind} {notification.subject_type} {notification.subject_id} "
            f"to {notification.recipient.get_username()} (due {notification.due_on})"
        )
