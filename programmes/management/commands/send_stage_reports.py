"""Compute, store and send stage reports now, for one or every programme."""

from django.core.management.base import BaseCommand, CommandError

from notifications import delivery
from notifications.models import Notification, NotificationStatus
from programmes import reports
from programmes.models import Programme


class Command(BaseCommand):
    help = "Send the stage report of a period (default: the last complete one) to each programme's supervisors."

    def add_arguments(self, parser):
        parser.add_argument("--programme", help="Programme code (default: every active programme).")
        parser.add_argument("--period", help="2026-W47 (a week) or 2026-11 (a month); default: the last complete one.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Compute and print the numbers; store and send nothing."
        )

    def handle(self, *args, programme, period, dry_run, **options):
        programmes = Programme.objects.filter(is_active=True).order_by("code")
        if programme:
            programmes = programmes.filter(code=programme)
            if not programmes:
                raise CommandError(f"No active programme with code {programme!r}.")
        try:
            chosen = reports.period_parse(period) if period else None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for item in programmes:
            report_period = chosen or reports.period_last_complete(item, item.report_frequency)
            recipients = [user.get_username() for user in reports.report_recipients(item)]
            if dry_run:
                numbers = reports.report_build(programme=item, period=report_period)
                totals = numbers["totals"]
                self.stdout.write(
                    f"{item.code} {report_period.label}: would send to {', '.join(recipients) or 'nobody'}; "
                    f"active {totals['active']}, blocked {totals['blocked']}, overdue stages {numbers['overdue']['total']}, "
                    f"overdue follow-ups {totals['overdue_follow_ups']}"
                )
                continue
            report = reports.report_send(programme=item, period=report_period)
            pending = Notification.objects.filter(
                kind=reports.STAGE_REPORT_KIND, subject_id=report.pk, status=NotificationStatus.PENDING
            ).select_related("recipient")
            for notification in pending:
                outcome = delivery.notification_send_now(notification_id=notification.pk)
                self.stdout.write(f"{item.code} {report.period}: {outcome} to {notification.recipient.get_username()}")
            self.stdout.write(f"{item.code} {report.period}: stored; {len(recipients)} subscribed supervisor(s)")
