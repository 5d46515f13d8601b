"""Create or update the staff groups (Administrators, Supervisors, Caseworkers) and their permissions."""

from django.core.management.base import BaseCommand

from core.roles import role_groups_sync


class Command(BaseCommand):
    help = "Create or update the staff groups and their admin permissions."

    def handle(self, *args, **options):
        for group, count in role_groups_sync().items():
            self.stdout.write(f"{group}: {count} permissions")
