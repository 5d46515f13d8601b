"""A pytest plugin for the mutation runs only (mutation/run.py): each pytest session
starts from a copy of an already migrated SQLite database instead of migrating one.

mutmut starts a pytest session per mutant; migrating the test database is most of
its time. run.py migrates a template once (``manage.py migrate`` into
``MUTATION_TEMPLATE_DB``); this plugin copies it over the test database
(``MUTATION_TEST_DB``, the working copy's ``DATABASES["default"]["TEST"]["NAME"]``)
when a session starts, and ``--reuse-db`` makes pytest-django take it as it is. The
copy also undoes what a transactional test flushed in an earlier session.
"""

import os
import shutil


def pytest_sessionstart(session):
    template, test_db = os.environ.get("MUTATION_TEMPLATE_DB"), os.environ.get("MUTATION_TEST_DB")
    if template and test_db:
        shutil.copyfile(template, test_db)
