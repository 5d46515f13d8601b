"""The admin and the API docs still work under the Content-Security-Policy, in a real browser:
no violation is reported and the pages render."""

import pytest
from django.contrib.auth.models import Group

from core.roles import role_groups_sync
from tests import factories as f
from tests.e2e.conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def watch_violations(page) -> list[str]:
    """Every CSP violation the page reports, from the console and from the DOM event."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    return violations


def test_admin_and_api_docs_render_under_the_policy(page, live_server, programme, caseworker, case):
    role_groups_sync()
    caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    violations = watch_violations(page)
    login(page, live_server, "caseworker")
    for path in ("/admin/", "/admin/casework/person/?q=Sample", f"/admin/casework/case/{case.pk}/change/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector("#content")
    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI drew the operations from the schema.
    page.wait_for_selector(".swagger-ui .opblock", timeout=30000)
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert not violations, violations
    assert f.cw.Case.objects.filter(pk=case.pk).exists()
