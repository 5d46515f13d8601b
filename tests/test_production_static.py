"""Static files as production serves them: collected with hashed names and a gzip copy, then
served by gunicorn (WhiteNoise) with DJANGO_DEBUG off, cached for a year, compressed for
browsers that ask. The admin and Swagger UI are drawn with all their styles and scripts.

The helpers here start the production web process (collectstatic, migrate, gunicorn with
the production settings); the proxy tests reuse them."""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ONE_YEAR = 365 * 24 * 3600
STAFF_USERNAME = "caseworker"
STAFF_PASSWORD = "production-shape-password-1"
ADMINISTRATOR_USERNAME = "administrator"
PRODUCTION_KEYS = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "s" * 50,
    "FIELD_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1zaGFwZWQta2V5LWZvci10ZXN0cyE=",
    "IDENTIFIER_LOOKUP_KEY": "l" * 40,
}
MAKE_STAFF_USER = f"""
from django.contrib.auth import get_user_model
get_user_model().objects.create_user({STAFF_USERNAME!r}, password={STAFF_PASSWORD!r}, is_staff=True)
get_user_model().objects.create_superuser({ADMINISTRATOR_USERNAME!r}, password={STAFF_PASSWORD!r})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict | None = None, data: bytes | None = None, context=None) -> Answer:
    """One request, redirects not followed; header names in lower case."""
    request = urllib.request.Request(url, data=data, headers={"Connection": "close", **(headers or {})})
    handlers = [_NoRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=20) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def production_environment(site: Path, **extra) -> dict:
    """The web process's environment as docker-compose.yml gives it, on SQLite in ``site``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "API_THROTTLE_", "AXES_", "STAFF_OTP_"))
        and key
        not in ("DATABASE_URL", "REDIS_URL", "TRUSTED_PROXY_COUNT", "FIELD_ENCRYPTION_KEY", "IDENTIFIER_LOOKUP_KEY")
    }
    environment.update(
        PRODUCTION_KEYS,
        DJANGO_VAR_DIR=str(site / "var"),
        DJANGO_STATIC_ROOT=str(site / "static"),
        DATABASE_URL=f"sqlite:///{site / 'db.sqlite3'}",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    environment.update(extra)
    return environment


def prepare_site(site: Path) -> None:
    """What the image build and the `migrate` service do: collectstatic, migrate; and two users."""
    for command, environment in (
        # As the Dockerfile runs it: the manifest storage asked for, since none exists yet.
        (["collectstatic", "--noinput"], production_environment(site, DJANGO_STATIC_MANIFEST="1")),
        (["migrate", "--noinput"], production_environment(site)),
        (["shell", "-c", MAKE_STAFF_USER], production_environment(site)),
    ):
        result = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "static" / "staticfiles.json").is_file()


@contextlib.contextmanager
def production_gunicorn(site: Path, **extra):
    """gunicorn with config/gunicorn.conf.py and the production settings; yields (base URL, log)."""
    environment = production_environment(site, **extra)
    port = free_port()
    log = site / f"gunicorn-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--config",
                "config/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                # The health probes are exempt from the HTTPS redirect.
                if fetch(base + "/healthz").status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start:\n" + log.read_text()
            time.sleep(0.3)
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "link" and attributes.get("rel") == "stylesheet" and attributes.get("href"):
            self.urls.append(attributes["href"])
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])


def linked_assets(html: bytes) -> list[str]:
    parser = _Assets()
    parser.feed(html.decode())
    return parser.urls


def max_age(answer: Answer) -> int:
    match = re.search(r"max-age=(\d+)", answer.headers.get("cache-control", ""))
    return int(match.group(1)) if match else 0


# Behind the proxy, which says the client used HTTPS (TRUSTED_PROXY_COUNT=1).
FROM_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("production-site")
    prepare_site(site)
    with production_gunicorn(site, TRUSTED_PROXY_COUNT="1") as (base, log):
        yield base, site


def test_admin_styles_and_scripts_are_served_hashed_cached_and_compressed(site):
    base, _ = site
    page = fetch(base + "/admin/login/", headers=FROM_PROXY)
    assert page.status == 200, page.body[:500]
    assets = linked_assets(page.body)
    assert any(url.endswith(".css") for url in assets) and any(url.endswith(".js") for url in assets), assets
    for url in assets:
        # Every name carries its content's hash, so it can be cached for good.
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
        plain = fetch(base + url, headers={**FROM_PROXY, "Accept-Encoding": "identity"})
        assert plain.status == 200, url
        assert max_age(plain) >= ONE_YEAR, (url, plain.headers)
        assert "content-encoding" not in plain.headers
        compressed = fetch(base + url, headers={**FROM_PROXY, "Accept-Encoding": "gzip"})
        assert compressed.status == 200 and compressed.headers.get("content-encoding") == "gzip", url
        assert "Accept-Encoding" in compressed.headers.get("vary", "")
        assert gzip.decompress(compressed.body) == plain.body


def test_an_unknown_static_file_is_a_plain_404(site):
    base, _ = site
    assert fetch(base + "/static/admin/css/no-such-file.css", headers=FROM_PROXY).status == 404


def test_api_docs_assets_are_served_from_the_collected_files(site):
    base, _ = site
    # Swagger UI's own files (drf-spectacular-sidecar) are collected and hashed too.
    manifest = (site[1] / "static" / "staticfiles.json").read_text()
    bundle = re.search(r'"(drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle\.[0-9a-f]{12}\.js)"', manifest)
    assert bundle, "Swagger UI's bundle is not in the manifest"
    answer = fetch(f"{base}/static/{bundle.group(1)}", headers={**FROM_PROXY, "Accept-Encoding": "gzip"})
    assert answer.status == 200 and answer.headers.get("content-encoding") == "gzip"
    assert max_age(answer) >= ONE_YEAR


STORAGE = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings
print(settings.STORAGES["staticfiles"]["BACKEND"].rsplit(".", 1)[-1])
"""


@pytest.mark.parametrize(
    ("debug", "manifest", "forced", "storage"),
    [
        ("0", True, None, "CompressedManifestStaticFilesStorage"),
        # No collectstatic yet (tests, a first `check --deploy`): pages still render.
        ("0", False, None, "StaticFilesStorage"),
        ("1", True, None, "StaticFilesStorage"),
        ("0", True, "0", "StaticFilesStorage"),
        ("1", False, "1", "CompressedManifestStaticFilesStorage"),
    ],
)
def test_hashed_names_are_used_in_production_once_collected(tmp_path, debug, manifest, forced, storage):
    (tmp_path / "static").mkdir()
    if manifest:
        (tmp_path / "static" / "staticfiles.json").write_text('{"paths": {}, "version": "1.1"}')
    environment = production_environment(tmp_path, DJANGO_DEBUG=debug)
    if forced is not None:
        environment["DJANGO_STATIC_MANIFEST"] = forced
    result = subprocess.run([sys.executable, "-c", STORAGE], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == storage
