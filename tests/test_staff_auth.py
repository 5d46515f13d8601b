"""Staff sign-in: lockout after repeated failures (django-axes) and a second factor (TOTP,
django-otp) for administrators and supervisors, through the real forms."""

import base64
import datetime
import os
import re
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from cryptography.fernet import Fernet
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from programmes.models import ProgrammeMembership, ProgrammeMembershipRole
from tests.conftest import force_login, totp_code, totp_device

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "test-password-123"
LOGIN = reverse("admin:login")
VERIFY = reverse("two_factor:verify")
ENROL = reverse("two_factor:enrol")
API = "/api/v1/programmes/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every sign-in checks a password; real hashing would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_in(client, user, password=PASSWORD, *, address="127.0.0.1", url=LOGIN):
    data = {"username": user.get_username(), "password": password, "next": "/admin/"}
    return client.post(url, data, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def api_status(client) -> int:
    return client.get(API, HTTP_ACCEPT="application/json").status_code


def verify(client, code, next_url="/admin/"):
    return client.post(VERIFY, {"token": code, "next": next_url})


# --- lockout ----------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_out_even_the_right_one(client, caseworker, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        response = sign_in(client, caseworker, "wrong-password-000")
        assert response.status_code == 200 and "Please enter the correct username" in response.content.decode()
    response = sign_in(client, caseworker, "wrong-password-000")
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed sign-in attempts." in body and "locked for 30 minutes" in body

    response = sign_in(client, caseworker)
    assert response.status_code == 429 and "Too many failed sign-in attempts." in response.content.decode()
    assert not signed_in(client)


def test_the_lockout_ends_after_the_cool_off(client, caseworker):
    for _ in range(5):
        sign_in(client, caseworker, "wrong-password-000")
    assert sign_in(client, caseworker).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=29))
    assert sign_in(client, caseworker).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=31))
    response = sign_in(client, caseworker)
    assert response.status_code == 302 and signed_in(client)
    # A success clears the count: four more failures do not lock the account again.
    client.logout()
    for _ in range(4):
        assert sign_in(client, caseworker, "wrong-password-000").status_code == 200
    assert sign_in(client, caseworker).status_code == 302


def test_the_lockout_is_per_username_and_address(client, caseworker, other_caseworker):
    for _ in range(5):
        sign_in(client, caseworker, "wrong-password-000", address="203.0.113.7")
    assert sign_in(client, caseworker, address="203.0.113.7").status_code == 429
    # The same user from another address, and another user from the same address, still get in.
    other_place = Client()
    assert sign_in(other_place, caseworker, address="198.51.100.20").status_code == 302
    same_place = Client()
    assert sign_in(same_place, other_caseworker, address="203.0.113.7").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, caseworker, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(5):
        client.post(
            LOGIN,
            {"username": "caseworker", "password": "wrong-password-000"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.7",
        )
    attempt = AccessAttempt.objects.get()
    assert attempt.ip_address == "203.0.113.7" and attempt.failures_since_start == 5
    # Another client behind the same proxy is not locked out.
    response = Client().post(
        LOGIN,
        {"username": "caseworker", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.20",
    )
    assert response.status_code == 302


def test_the_api_sign_in_page_locks_out_too(client, caseworker):
    url = reverse("rest_framework:login")
    for _ in range(5):
        response = sign_in(client, caseworker, "wrong-password-000", url=url)
    assert response.status_code == 429 and "Too many failed sign-in attempts." in response.content.decode()
    assert sign_in(client, caseworker, url=url).status_code == 429


def test_failed_attempts_keep_no_form_data(client, caseworker):
    data = {"username": "caseworker", "password": "secret-guess-0001", "next": "/admin/"}
    client.post(LOGIN + "?next=/admin/casework/", data)
    client.post(LOGIN, {"username": "caseworker", "password": "secret-guess-0002"})
    attempt = AccessAttempt.objects.get()
    assert attempt.username == "caseworker" and attempt.failures_since_start == 2
    assert attempt.get_data == "" and attempt.post_data == ""


def test_administrators_see_and_lift_lockouts_in_the_admin(client, caseworker, administrator):
    locked = Client()
    for _ in range(5):
        sign_in(locked, caseworker, "wrong-password-000")
    attempt = AccessAttempt.objects.get()

    force_login(client, administrator)
    response = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 200 and "caseworker" in response.content.decode()
    response = client.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302 and not AccessAttempt.objects.exists()

    assert sign_in(locked, caseworker).status_code == 302


def test_sign_in_without_a_request_is_not_counted(caseworker):
    from django.contrib.auth import authenticate

    # Management commands and the shell authenticate without a request; there is no address to lock.
    assert authenticate(username="caseworker", password=PASSWORD) == caseworker
    assert authenticate(username="caseworker", password="wrong-password-000") is None
    assert not AccessAttempt.objects.exists()


# --- two-factor: who must give a code -----------------------------------------------------------


@pytest.fixture(params=["administrator", "supervisor"])
def enforced_user(request):
    return request.getfixturevalue(request.param)


def test_a_password_alone_opens_neither_the_admin_nor_the_api(client, enforced_user, programme):
    totp_device(enforced_user)
    response = sign_in(client, enforced_user)
    assert response.status_code == 302 and signed_in(client)

    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next=%2Fadmin%2F"
    response = client.get(reverse("admin:casework_case_changelist"))
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    # DRF's session authentication does not stand in for the missing code.
    assert api_status(client) in (401, 403)
    # Signing out needs no code.
    assert client.post(reverse("admin:logout")).status_code == 200 and not signed_in(client)


def test_a_valid_code_opens_the_admin_and_the_api(client, enforced_user, programme):
    device = totp_device(enforced_user)
    sign_in(client, enforced_user)
    response = client.get(VERIFY + "?next=/admin/")
    assert response.status_code == 200 and 'autocomplete="one-time-code"' in response.content.decode()

    response = verify(client, totp_code(device), next_url=reverse("admin:casework_case_changelist"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:casework_case_changelist")
    assert client.get("/admin/").status_code == 200
    assert api_status(client) == 200
    # The code has been spent: it does not verify a second session.
    other = Client()
    sign_in(other, enforced_user)
    assert verify(other, totp_code(device)).status_code == 400


def test_a_wrong_code_opens_nothing(client, enforced_user, programme):
    device = totp_device(enforced_user)
    sign_in(client, enforced_user)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    response = verify(client, wrong)
    assert response.status_code == 400
    assert "That code is wrong or has expired." in response.content.decode()
    assert client.get("/admin/").status_code == 302
    assert api_status(client) in (401, 403)
    # After a wrong code django-otp holds back even the right one for a moment, and says so.
    response = verify(client, totp_code(device))
    assert response.status_code == 400 and "Too many wrong codes." in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_a_token_api_call_needs_no_code(administrator, programme):
    _token, key = AuthToken.objects.create(administrator)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_status(client) == 200


def test_a_caseworker_needs_no_code_by_default(client, caseworker):
    assert sign_in(client, caseworker).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert api_status(client) == 200


def test_with_the_setting_on_everybody_needs_a_code(client, caseworker, partner, settings):
    settings.STAFF_OTP_REQUIRED_FOR_ALL = True
    sign_in(client, caseworker)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith(ENROL)
    assert api_status(client) in (401, 403)

    api_client = Client()
    sign_in(api_client, partner, url=reverse("rest_framework:login"))
    assert api_status(api_client) in (401, 403)


def test_a_new_supervisor_is_asked_on_the_next_page(client, caseworker, programme):
    sign_in(client, caseworker)
    assert client.get("/admin/").status_code == 200
    ProgrammeMembership.objects.create(programme=programme, user=caseworker, role=ProgrammeMembershipRole.SUPERVISOR)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)


def test_the_browsable_api_sign_in_leads_to_the_code(client, supervisor):
    totp_device(supervisor)
    response = client.post(
        reverse("rest_framework:login"), {"username": "supervisor", "password": PASSWORD, "next": "/api/v1/"}
    )
    assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next=%2Fapi%2Fv1%2F"
    # Back on the sign-in page (the browsable API links there from its 401), the code is asked for.
    response = client.get(reverse("rest_framework:login") + "?next=/api/v1/")
    assert response.status_code == 302 and response["Location"] == f"{VERIFY}?next=%2Fapi%2Fv1%2F"
    response = verify(client, totp_code(supervisor.totpdevice_set.get()), next_url="/api/v1/")
    assert response["Location"] == "/api/v1/"
    assert client.get("/api/v1/", HTTP_ACCEPT="application/json").status_code == 200


def test_after_the_code_only_pages_of_this_site(client, administrator):
    device = totp_device(administrator)
    sign_in(client, administrator)
    response = verify(client, totp_code(device), next_url="https://attacker.example/admin/")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_the_code_pages_send_strangers_to_sign_in(client):
    for url in (VERIFY, ENROL):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_the_code_page_keeps_the_language_chooser(client, supervisor):
    totp_device(supervisor)
    sign_in(client, supervisor)
    response = client.post(reverse("accounts:language_set"), {"language": "ru", "next": VERIFY})
    assert response.status_code == 302 and response["Location"] == VERIFY
    body = client.get(VERIFY).content.decode()
    assert '<html lang="ru"' in body and 'id="language-chooser"' in body


# --- two-factor: enrolment --------------------------------------------------------------------


def test_a_supervisor_without_a_device_enrols_one(client, supervisor):
    sign_in(client, supervisor)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == f"{ENROL}?next=%2Fadmin%2F"
    body = response.content.decode()
    assert 'src="data:image/svg+xml;base64,' in body
    device = TOTPDevice.objects.get(user=supervisor)
    assert not device.confirmed
    shown_key = re.search(r'id="two-factor-secret">([A-Z2-7 ]+)<', body)[1].replace(" ", "")
    assert base64.b32decode(shown_key) == device.bin_key
    # A reload shows the same key, so that a code already scanned stays valid.
    assert shown_key in client.get(ENROL).content.decode().replace(" ", "")

    assert client.post(ENROL, {"token": "000000", "next": "/admin/"}).status_code == 400
    # Past the moment django-otp holds codes back after a wrong one.
    moment_ago = timezone.now() - datetime.timedelta(seconds=5)
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=moment_ago)
    app = TOTP(base64.b32decode(shown_key))
    response = client.post(ENROL, {"token": f"{app.token():06d}", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200

    # From now on a password alone cannot set up another device: the code is asked for.
    other = Client()
    sign_in(other, supervisor)
    response = other.get(ENROL)
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=supervisor).count() == 1


def test_a_verified_session_keeps_no_enrolment_page(client, administrator):
    force_login(client, administrator)
    response = client.get(ENROL)
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


# --- the demo -----------------------------------------------------------------------------------


def test_the_demo_prints_working_two_factor_keys(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--size", "5", "--seed", "3", stdout=out, verbosity=0)
    printed = out.getvalue()
    keys = dict(re.findall(r"^  (\S+)\s+TOTP key ([A-Z2-7]+)$", printed, flags=re.MULTILINE))
    # Everyone whose role requires a second factor: the administrator, both supervisors, the legal officer.
    assert set(keys) == {"admin", "supervisor", "supervisor2", "legal_officer"}
    assert "otpauth://totp/" in printed and "demo only" in printed
    for username, key in keys.items():
        client = Client()
        assert client.post(LOGIN, {"username": username, "password": f"{username}-demo-3"}).status_code == 302
        assert client.get("/admin/").status_code == 302
        code = f"{TOTP(base64.b32decode(key)).token():06d}"
        assert verify(client, code).status_code == 302, username
        assert client.get("/admin/").status_code == 200


# --- deployment checks --------------------------------------------------------------------------


def test_deploy_check_has_no_warnings(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AXES_", "STAFF_OTP_"))}
    environment.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48)[:50],
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        IDENTIFIER_LOOKUP_KEY=secrets.token_urlsafe(32),
        DJANGO_ALLOWED_HOSTS="example.org",
        DJANGO_VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "no issues" in output
