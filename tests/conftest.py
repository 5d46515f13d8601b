"""Fixed actors shared by the tests: two programmes, their staff, a partner with and
without a referral, and an administrator."""

import os

import pytest
from django.conf import settings

from programmes.models import ProgrammeMembershipRole
from tests import factories as f


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    where = db["ENGINE"].rsplit(".", 1)[-1]
    if db.get("HOST"):
        where += f" at {db['HOST']}:{db.get('PORT') or 'default'}"
    return [f"database: {where}", f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]}"]


def pytest_sessionstart(session):
    """In CI the real services are required: fail loudly instead of falling back to SQLite."""
    if os.environ.get("REQUIRE_REAL_SERVICES") != "1":
        return
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError("REQUIRE_REAL_SERVICES=1 but DATABASE_URL does not point at PostgreSQL")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise pytest.UsageError("REQUIRE_REAL_SERVICES=1 but REDIS_URL is not set")


@pytest.fixture
def programme(db):
    return f.ProgrammeFactory(code="north", name="North (test)")


@pytest.fixture
def other_programme(db):
    return f.ProgrammeFactory(code="south", name="South (test)")


@pytest.fixture
def caseworker(programme):
    return f.add_member(programme, f.UserFactory(username="caseworker"), ProgrammeMembershipRole.CASEWORKER)


@pytest.fixture
def other_caseworker(other_programme):
    return f.add_member(other_programme, f.UserFactory(username="caseworker2"), ProgrammeMembershipRole.CASEWORKER)


@pytest.fixture
def supervisor(programme):
    return f.add_member(programme, f.UserFactory(username="supervisor"), ProgrammeMembershipRole.SUPERVISOR)


@pytest.fixture
def administrator(db):
    return f.UserFactory(username="admin", is_superuser=True)


@pytest.fixture
def agency(db):
    return f.AgencyFactory(code="childrens-fund", name="Children's Fund (test)")


@pytest.fixture
def partner(agency):
    user = f.UserFactory(username="partner", is_staff=False)
    agency.members.add(user)
    return user


@pytest.fixture
def partner_without_referral(db):
    user = f.UserFactory(username="partner-other", is_staff=False)
    f.AgencyFactory(code="other-agency").members.add(user)
    return user


@pytest.fixture
def case(programme, caseworker):
    case = f.CaseFactory(caseworker=caseworker, reference="N-0001")
    f.enrol(case, programme, by=caseworker)
    return case


@pytest.fixture
def other_case(other_programme, other_caseworker):
    case = f.CaseFactory(caseworker=other_caseworker, reference="S-0001")
    f.enrol(case, other_programme, by=other_caseworker)
    return case
