"""The project's own start-up wiring, which belongs to no domain app."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_tables(sender, using="default", **kwargs):
    """`migrate` also makes the database cache's table (throttle counters live there when
    there is no Redis), so every way of setting up a database (make run, CI, the compose
    migrate service) gets it. Nothing is done for other cache backends; it is idempotent."""
    call_command("createcachetable", database=using, verbosity=0)


class SiteConfig(AppConfig):
    name = "config"
    label = "site"
    verbose_name = _("Site")

    def ready(self):
        # Every app's post_migrate reaches this; the command returns at once when the table exists.
        post_migrate.connect(create_cache_tables, dispatch_uid="config.create_cache_tables")
