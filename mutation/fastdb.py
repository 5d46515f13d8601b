"""A pytest plugin for the mutation runs only (mutation/run.py): each pytest session
starts from a copy of an already migrated SQLite database instead of migrating one.

mutmut starts a pytest session per mutant; migrating the test database is most of
its time. run.py migrates a template once (``manage.py migrate`` into
``MUTATION_TEMPLATE_DB``); this plugin copies it over the test database
(``MUTATION_TEST_DB``, the working copy's ``DATABASES["default"]["TEST"]["NAME"]``)
when a session starts, and ``--reuse-db`` makes pytest-django take it as it is. The
copy also undoes what a transactional test flushed in an earlier session. Each
session takes a file of its own (the process id appended), so that mutants checked
at once (``MUTATION_CHILDREN``) never share a database; it is removed at the end.
"""

import os
import shutil


def _own_database() -> str | None:
    test_db = os.environ.get("MUTATION_TEST_DB")
    return f"{test_db}.{os.getpid()}" if test_db else None


def pytest_sessionstart(session):
    from django.db import connections

    template, own = os.environ.get("MUTATION_TEMPLATE_DB"), _own_database()
    if template and own:
        shutil.copyfile(template, own)
        connections["default"].settings_dict["TEST"]["NAME"] = own


def pytest_sessionfinish(session, exitstatus):
    own = _own_database()
    if own and os.path.exists(own):
        os.remove(own)
