"""Transport and browser protections: X-Forwarded-Proto believed only from a proxy we run,
HTTPS redirect on by default in the production shape, and a Content-Security-Policy on the
admin, the API and its docs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.conftest import force_login

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_KEYS = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k" * 50,
    "FIELD_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1zaGFwZWQta2V5LWZvci10ZXN0cyE=",
    "IDENTIFIER_LOOKUP_KEY": "l" * 40,
}
# A plain-HTTP request that claims, through the header, to have come over HTTPS.
CLAIMS_HTTPS = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.test import Client
response = Client().get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
print(response.status_code)
"""


def production_answer(tmp_path, **env) -> int:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_") and k != "DATABASE_URL"}
    environment.update(
        PRODUCTION_KEYS, DJANGO_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", CLAIMS_HTTPS], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


# --- X-Forwarded-Proto and the HTTPS redirect ----------------------------------------


def test_forwarded_proto_is_not_trusted_without_a_proxy(tmp_path):
    # No proxy in front: the client's own header does not make plain HTTP count as HTTPS.
    assert production_answer(tmp_path, TRUSTED_PROXY_COUNT="0") == 301
    assert production_answer(tmp_path) == 301
    # Behind one proxy (which sets the header itself), it is believed.
    assert production_answer(tmp_path, TRUSTED_PROXY_COUNT="1") == 200


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_keeps_the_ssl_redirect_on_by_default():
    environment = compose()["x-app"]["environment"]
    assert environment["DJANGO_SECURE_SSL_REDIRECT"] == "${DJANGO_SECURE_SSL_REDIRECT:-1}"
    assert environment["TRUSTED_PROXY_COUNT"] == "${TRUSTED_PROXY_COUNT:-0}"


def test_compose_web_runs_gunicorn_with_the_project_config():
    command = compose()["services"]["web"]["command"]
    assert command[:2] == ["gunicorn", "config.wsgi"] and "config/gunicorn.conf.py" in command


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_file_is_valid():
    environment = {
        **os.environ,
        "DJANGO_SECRET_KEY": "k" * 50,
        "FIELD_ENCRYPTION_KEY": "f",
        "IDENTIFIER_LOOKUP_KEY": "i",
    }
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# --- Content-Security-Policy ------------------------------------------------------------


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    policy = {}
    for part in header.split(";"):
        name, *values = part.split()
        policy[name] = values
    return policy


def assert_strict(response):
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["script-src"] == ["'self'"], "no inline or third-party script"


@pytest.mark.django_db
def test_content_security_policy_on_the_admin(client, caseworker):
    assert_strict(client.get("/admin/login/"))
    force_login(client, caseworker)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.django_db
def test_content_security_policy_on_the_api(caseworker):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(caseworker)[1]}")
    for url in ("/api/v1/", "/api/v1/cases/", "/api/v1/nothing/"):
        assert_strict(client.get(url))
    assert_strict(APIClient().get("/api/v1/cases/"))  # the 401 too


@pytest.mark.django_db
def test_content_security_policy_on_the_api_docs(client, caseworker):
    force_login(client, caseworker)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert_strict(page)
    # Swagger UI starts from a separate script file, not an inline script.
    html = page.content.decode()
    assert "<script>" not in html and "?script=" in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
