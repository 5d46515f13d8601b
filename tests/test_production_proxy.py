"""The app behind the TLS-terminating proxy it is deployed with (deploy/nginx.conf): Debian's
nginx with a throw-away certificate, in front of gunicorn with the production settings and
TRUSTED_PROXY_COUNT=1.

Plain HTTP is redirected, HTTPS answers carry HSTS, and sign-in lockouts count the address
the client really connected from (clients connect from 127.0.0.2, nginx from 127.0.0.1),
whatever X-Forwarded-For the client writes itself."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.test_production_static import (
    ADMINISTRATOR_USERNAME,
    DOCS,
    ROOT,
    STAFF_PASSWORD,
    STAFF_USERNAME,
    free_port,
    linked_assets,
    prepare_site,
    production_gunicorn,
)

CLIENT_ADDRESS = "127.0.0.2"  # the browser; nginx reaches gunicorn from 127.0.0.1
FORGED = "203.0.113.66"
ONE_YEAR = 31536000


def nginx_executable() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


@dataclass
class Proxy:
    http_port: int
    https_port: int
    certificate: Path
    database: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))


def render_site_config(work: Path, *, upstream_port: int, http_port: int, https_port: int) -> str:
    """deploy/nginx.conf as committed, with the host's ports and the throw-away certificate."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in (
        ("server web:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("/etc/nginx/certs/", f"{work}/certs/"),
    ):
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


def throw_away_certificate(directory: Path) -> Path:
    directory.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(directory / "privkey.pem"),
            "-out",
            str(directory / "fullchain.pem"),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return directory / "fullchain.pem"


@contextlib.contextmanager
def nginx(work: Path, *, upstream_port: int):
    """Debian's nginx as a child process (not a daemon) with its own prefix in ``work``."""
    executable = nginx_executable()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    certificate = throw_away_certificate(work / "certs")
    http_port, https_port = free_port(), free_port()
    (work / "site.conf").write_text(
        render_site_config(work, upstream_port=upstream_port, http_port=http_port, https_port=https_port)
    )
    temp = {name: work / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    (work / "nginx.conf").write_text(
        f"""
worker_processes 1;
events {{ worker_connections 128; }}
http {{
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    access_log {work}/access.log;
    include {work}/site.conf;
}}
"""
    )
    log = work / "error.log"
    process = subprocess.Popen(
        [
            executable,
            "-p",
            str(work),
            "-c",
            str(work / "nginx.conf"),
            "-e",
            str(log),
            "-g",
            f"daemon off; pid {work}/nginx.pid; user root;"
            if os.geteuid() == 0
            else f"daemon off; pid {work}/nginx.pid;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text() if log.exists() else "nginx exited"
            with contextlib.suppress(OSError):
                with contextlib.closing(http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)) as connection:
                    connection.request("GET", "/healthz")
                    connection.getresponse().read()
                    break
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.2)
        yield http_port, https_port, certificate
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    site = tmp_path_factory.mktemp("proxied-site")
    prepare_site(site)
    with production_gunicorn(site, TRUSTED_PROXY_COUNT="1") as (base, _):
        upstream_port = int(base.rsplit(":", 1)[1])
        with nginx(tmp_path_factory.mktemp("nginx"), upstream_port=upstream_port) as (http_port, https_port, cert):
            yield Proxy(http_port, https_port, cert, site / "db.sqlite3")


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class Browser:
    """A client that keeps its cookies and connects from its own loopback address."""

    def __init__(self, proxy: Proxy, address: str = CLIENT_ADDRESS):
        self.proxy = proxy
        self.address = address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, headers: dict | None = None, form: dict | None = None) -> Reply:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.proxy.https_port, context=self.proxy.tls(), timeout=20, source_address=(self.address, 0)
        )
        headers = dict(headers or {})
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.proxy.https
            headers["Referer"] = self.proxy.https + path
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            connection.close()
        for header in reply.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            self.cookies.update({name: morsel.value for name, morsel in cookie.items()})
        return reply

    def sign_in(self, username: str, password: str, *, forwarded_for: str | None = None) -> Reply:
        extra = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        page = self.request("GET", "/admin/login/", headers=extra)
        assert page.status == 200, page.body[:300]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1).decode()
        return self.request(
            "POST",
            "/admin/login/",
            headers=extra,
            form={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        )

    def failed_sign_in(self, username: str, *, forwarded_for: str | None = None) -> Reply:
        return self.sign_in(username, "not-the-password", forwarded_for=forwarded_for)


def attempts(proxy: Proxy, username: str) -> dict[str, int]:
    """django-axes's failed-attempt rows for the username: {address: failures}."""
    with contextlib.closing(sqlite3.connect(proxy.database)) as connection:
        rows = connection.execute(
            "SELECT ip_address, failures_since_start FROM axes_accessattempt WHERE username = ?", (username,)
        ).fetchall()
    return dict(rows)


def test_plain_http_is_redirected_to_https(proxy):
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)) as connection:
        connection.request("GET", "/admin/login/?next=/admin/")
        response = connection.getresponse()
        assert response.status == 301
        assert response.headers["Location"] == "https://127.0.0.1/admin/login/?next=/admin/"


def test_https_answers_carry_strict_transport_security(proxy):
    browser = Browser(proxy)
    page = browser.request("GET", "/admin/login/")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains; preload"
    # The app saw HTTPS: its cookies are sent over HTTPS only.
    assert "secure" in page.headers["Set-Cookie"].lower()
    assets = linked_assets(page.body)
    assert assets
    for url in assets:
        asset = browser.request("GET", url, headers={"Accept-Encoding": "gzip"})
        assert asset.status == 200, url
        assert asset.headers["Content-Encoding"] == "gzip"
        assert asset.headers["Strict-Transport-Security"].startswith(f"max-age={ONE_YEAR}")
    # nginx does not name its version.
    assert page.headers["Server"] == "nginx"


def test_the_two_factor_pages_are_styled(proxy):
    browser = Browser(proxy)
    reply = browser.sign_in(ADMINISTRATOR_USERNAME, STAFF_PASSWORD)
    # An administrator owes a code: the admin sends them to set up their device first.
    for _ in range(3):
        if reply.status != 302:
            break
        reply = browser.request("GET", urllib.parse.urlsplit(reply.headers["Location"]).path)
    assert reply.status == 200 and b"sign-in-step" in reply.body, reply.body[:300]
    assets = linked_assets(reply.body)
    assert any("login" in url and url.endswith(".css") for url in assets), assets
    for url in assets:
        asset = browser.request("GET", url)
        assert asset.status == 200, url
        assert "max-age=315360000" in asset.headers["Cache-Control"], url


def test_a_client_cannot_claim_https_over_plain_http(proxy):
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)) as connection:
        connection.request("GET", "/admin/login/", headers={"X-Forwarded-Proto": "https"})
        assert connection.getresponse().status == 301


def test_a_failed_sign_in_is_counted_against_the_client_address_not_the_proxy(proxy):
    reply = Browser(proxy).failed_sign_in("someone")
    assert reply.status == 200 and b"errornote" in reply.body
    assert attempts(proxy, "someone") == {CLIENT_ADDRESS: 1}


def test_a_forged_forwarded_for_is_not_believed(proxy):
    browser = Browser(proxy)
    # Each guess claims to come from somewhere else; the proxy's own entry still names the
    # client, so the fifth guess (AXES_FAILURE_LIMIT) locks the name out at this address.
    replies = [
        browser.failed_sign_in("target", forwarded_for=f"203.0.113.{number + 10}, {FORGED}") for number in range(5)
    ]
    assert [reply.status for reply in replies] == [200, 200, 200, 200, 429]
    assert attempts(proxy, "target") == {CLIENT_ADDRESS: 5}
    assert browser.failed_sign_in("target", forwarded_for="198.51.100.1").status == 429
    # The same name from another desk is not locked out, even when it names the locked address.
    elsewhere = Browser(proxy, address="127.0.0.3").failed_sign_in("target", forwarded_for=CLIENT_ADDRESS)
    assert elsewhere.status == 200 and b"errornote" in elsewhere.body
    assert attempts(proxy, "target")["127.0.0.3"] == 1


@pytest.mark.integration
def test_screenshots_of_the_admin_and_api_docs_through_the_proxy(proxy):
    """The admin's sign-in page and Swagger UI as a browser gets them in production."""
    from tests.e2e.conftest import CHROMIUM_FLAGS, _chromium

    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("Chromium is not installed")
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import sync_playwright

    failed: list[str] = []

    def browse():
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
            try:
                context = browser.new_context(
                    viewport={"width": 1280, "height": 900}, locale="en-GB", ignore_https_errors=True
                )
                page = context.new_page()
                page.set_default_timeout(30000)
                page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
                page.goto(f"{proxy.https}/admin/login/")
                page.wait_for_selector("#id_username")
                # The admin's stylesheet took effect.
                assert page.eval_on_selector("#header", "e => getComputedStyle(e).display") == "flex"
                DOCS.mkdir(exist_ok=True)
                page.screenshot(path=str(DOCS / "production-admin-login.png"), full_page=True)
                page.fill("#id_username", STAFF_USERNAME)
                page.fill("#id_password", STAFF_PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_selector("#user-tools")
                page.goto(f"{proxy.https}/api/docs/")
                page.wait_for_selector(".swagger-ui .opblock")
                assert page.locator(".swagger-ui .opblock").count() > 10
                page.screenshot(path=str(DOCS / "production-swagger.png"))
            finally:
                browser.close()

    # On a thread of its own: another test's browser may keep Playwright's event loop
    # running on this one, and the sync API refuses to start inside a running loop.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(browse).result()
    assert not failed, failed


def test_compose_puts_the_proxy_in_front_of_web():
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    web = services["web"]
    # Only the proxy reaches gunicorn, and the app believes that one proxy.
    assert "ports" not in web
    assert web["environment"]["TRUSTED_PROXY_COUNT"] == "1"
    assert web["environment"]["DJANGO_SECURE_SSL_REDIRECT"] == "${DJANGO_SECURE_SSL_REDIRECT:-1}"
