"""Registers every domain app's admin pages (the admin's autodiscovery imports this module)
and names the site."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from backoffice import casework_admin, programmes_admin, retention_admin  # noqa: F401
from backoffice import import_admin, intake_admin, justice_admin, transfer_admin  # noqa: F401

admin.site.site_header = _("Rehabilitation casework")
admin.site.site_title = _("Rehabilitation casework")
admin.site.index_title = _("Casework")
# The admin is the site: no public pages for "View site" to lead to.
admin.site.site_url = None
