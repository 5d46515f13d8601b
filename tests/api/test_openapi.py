"""The committed OpenAPI schema is the generated one, and the API keeps to it for every role.

Regenerate the file after changing the API:
    python manage.py spectacular --file docs/openapi.yaml --validate
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import ROLES

SCHEMA_FILE = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_committed_schema_matches_the_generated_one(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated), "--validate")
    assert generated.read_text() == SCHEMA_FILE.read_text(), (
        "docs/openapi.yaml is out of date: python manage.py spectacular --file docs/openapi.yaml --validate"
    )


def test_schema_and_docs_are_served(client, caseworker):
    # Both are for signed-in users (tests/api/test_api_hardening.py: not for anonymous callers).
    client.force_login(caseworker)
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI comes from the sidecar package: no CDN at run time.
    assert b"cdn" not in docs.content.lower()


# Bounded for CI: no exhaustive coverage phase; a few generated valid and invalid
# requests per operation and role.
FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"mode": "all", "max-examples": 3, "deterministic": True},
    }
)
api_schema = schemathesis.openapi.from_path(SCHEMA_FILE, config=FUZZ_CONFIG)
api_schema.app = WSGIHandler()


@pytest.fixture
def in_test_transaction():
    # Django closes "old" connections around each request it handles; inside the
    # test's transaction that would drop it. Django's own test client does the same.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def generous_throttles(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/minute", "anonymous": "100000/minute"},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@api_schema.parametrize()
@hypothesis_settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_to_its_schema(case, role, world, in_test_transaction, generous_throttles):
    headers = {} if role == "anonymous" else {"Authorization": f"Token {world.tokens[role]}"}
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS)
