"""Fixed actors shared by the tests: two programmes, their staff, a partner with and
without a referral, and an administrator."""

import os

import pytest
from django.conf import settings
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor import two_factor_required
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


# --- signing in -------------------------------------------------------------------------------


def totp_code(device, *, steps_ahead: int = 0) -> str:
    """The code the device's authenticator app shows now (or that many 30-second steps later).

    A code is accepted once only; a second sign-in within the same step needs the next one.
    """
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def totp_device(user) -> TOTPDevice:
    """The user's confirmed authenticator device, created if they have none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)


def force_login(client, user):
    """client.force_login, and for a user who must give a second factor, a session that has given it.

    Administrators and supervisors cannot use the admin on a password alone; tests
    about something else sign them in fully. tests/test_staff_auth.py goes through
    the real forms instead.
    """
    client.force_login(user)
    if two_factor_required(user):
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
        session.save()
    return client


# Tests that start processes of their own (gunicorn, Celery workers, nginx, wrk, pg_dump) and
# time what they do: under pytest-xdist (make test) they run one after another in one worker,
# so two of them never compete for the cores while a timing of theirs is being asserted.
PROCESS_TESTS = ("tests/integration/", "tests/test_production_", "tests/test_bench_")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(PROCESS_TESTS):
            item.add_marker(pytest.mark.xdist_group("processes"))
