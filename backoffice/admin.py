"""Registers every domain app's admin pages (the admin's autodiscovery imports this module)."""

from backoffice import casework_admin, programmes_admin, retention_admin  # noqa: F401
