"""A transfer between the two demo programmes, end to end in a real browser: the northern
caseworker asks on the case page, the southern supervisor accepts, the case is in the
southern programme's lists with its plan, and the northern staff keep only the record."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework.models import Case, CaseStatus
from lifecycle.models import TransferRequest, TransferStatus
from programmes.demo import demo_password
from programmes.models import EnrolmentStatus, StageRecord, StageStatus
from tests.conftest import totp_code
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SEED = 2026
REASON = "The mother found work in the south; the family moves to her sister's (demo)."


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--size", "60", "--seed", str(SEED), stdout=StringIO(), verbosity=0)
    settings.DEBUG = False


def login_with_code(page, live_server, username):
    """A supervisor signs in with the demo password, then the demo authenticator's code."""
    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", demo_password(username, SEED))
    page.click("input[type=submit]")
    page.wait_for_selector("#two-factor-form")
    page.fill("#id_token", totp_code(device))
    page.click("#two-factor-form input[type=submit]")
    page.wait_for_selector("#user-tools")


def test_a_transfer_from_the_north_to_the_south(browser, live_server, demo):
    # The seed leaves one transfer pending; this one is another case of the demo caseworker.
    assert TransferRequest.objects.filter(status=TransferStatus.PENDING).count() == 1
    case = (
        Case.objects.filter(
            caseworker__username="caseworker",
            enrolments__programme__code="north",
            enrolments__status=EnrolmentStatus.ACTIVE,
            transfer_requests__isnull=True,
            legal_proceedings__isnull=True,
            # A stage under way, to carry over.
            enrolments__stages__status=StageStatus.ACTIVE,
        )
        .exclude(status=CaseStatus.CLOSED)
        .order_by("reference")
        .first()
    )
    assert case is not None
    under_way = set(
        StageRecord.objects.filter(enrolment__case=case, status=StageStatus.ACTIVE).values_list("pk", flat=True)
    )
    case_url = f"{live_server.url}/admin/casework/case/{case.pk}/change/"
    north = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    south = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        # The northern caseworker asks, on the case page: 2 steps.
        page = north.new_page()
        login(page, live_server, "caseworker", password=demo_password("caseworker", SEED))
        page.goto(case_url)
        page.click("#request-transfer summary")
        page.select_option("#transfer-programme", label="Southern region rehabilitation (demo)")
        page.fill("#transfer-reason", REASON)
        page.click('input[name="request-transfer"]')
        page.wait_for_selector('[data-transfer-status="pending"]')
        assert "Transfer to Southern region rehabilitation (demo) requested by" in page.inner_text("#case-status")
        request = TransferRequest.objects.get(case=case)
        assert request.requested_by.username == "caseworker" and request.status == TransferStatus.PENDING

        # The southern supervisor: the request in the transfer list, the decision page, accept.
        desk = south.new_page()
        login_with_code(desk, live_server, "supervisor2")
        desk.goto(f"{live_server.url}/admin/lifecycle/transferrequest/?status__exact=pending")
        desk.click(f"#result_list >> text={case.reference}")
        desk.wait_for_selector("#decision")
        assert desk.locator("#handed-over tr.handed-over-stage").count() >= 3
        desk.check('input[name="carry_over"][value="carry_open"]')
        desk.select_option("#id_caseworker", label="caseworker2")
        desk.fill("#id_comment", "Welcome; caseworker2 visits in the first week (demo).")
        screenshot(desk, "admin-transfer-decision.png")
        desk.click('input[name="accept"]')
        desk.wait_for_selector("#case-overview")
        assert desk.url.endswith(f"/admin/casework/case/{case.pk}/change/")
        assert "transfer accepted" in desk.inner_text(".messagelist")
        stages = desk.locator("#stages tr[data-stage]")
        assert stages.count() >= 4
        for stage in StageRecord.objects.filter(pk__in=under_way).select_related("stage_type"):
            row = desk.locator(f'#stages tr[data-stage="{stage.stage_type.code}"]').first
            assert "Active" in row.inner_text() and "ended" not in row.inner_text()
        assert desk.locator('[data-transfer-status="accepted"]').count() == 1
        assert "Transferred from Northern region rehabilitation (demo)" in desk.inner_text("#case-status")
        screenshot(desk, "admin-transfer-accepted.png")

        # In the southern programme's case list, with caseworker2.
        desk.goto(f"{live_server.url}/admin/casework/case/?q={case.reference}")
        listed = desk.inner_text("#result_list")
        assert case.reference in listed and "caseworker2" in listed.lower()
        case.refresh_from_db()
        assert case.caseworker.username == "caseworker2"
        receiving = case.enrolments.get(status=EnrolmentStatus.ACTIVE)
        assert receiving.programme.code == "south"
        # The stages under way went on in the southern plan, as they were.
        assert set(receiving.stages.filter(status=StageStatus.ACTIVE).values_list("pk", flat=True)) == under_way
        # In the southern programme's enrolments, active, beside the northern one it ended.
        desk.goto(f"{live_server.url}/admin/programmes/enrolment/?q={case.reference}")
        enrolments = desk.inner_text("#result_list")
        assert "Southern region rehabilitation (demo)" in enrolments and "Active" in enrolments
        assert "Transferred to another programme" in enrolments

        # The northern caseworker: the case is gone from their lists; the record stays, read-only.
        page.goto(f"{live_server.url}/admin/casework/case/?q={case.reference}")
        assert case.reference not in page.inner_text("#content")
        page.goto(case_url)
        assert not page.locator("#case-overview").count()
        page.goto(f"{live_server.url}/admin/lifecycle/transferrequest/")
        page.click(f"#result_list >> text={case.reference}")
        page.wait_for_selector("#handed-over")
        record = page.inner_text("#handed-over")
        assert "Handed over by Northern region rehabilitation (demo) (read-only record)" in record
        assert not page.locator("#decision").count() and not page.locator("text=Open the case page").count()
        screenshot(page, "admin-transfer-record.png")
    finally:
        north.close()
        south.close()
