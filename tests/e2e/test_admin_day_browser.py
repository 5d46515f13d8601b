"""The caseworker's morning, a closure from request to approval, the supervisor's desk and
the case page on a phone, in a real browser."""

import datetime
import re

import pytest
from django.contrib.auth.models import Group

from accounts.models import UserPreference
from casework.models import CaseStatus, ClosureRequest, Family, FamilyMembership, ReceivingRelative
from core.roles import role_groups_sync
from programmes.models import FollowUp, RelativeContact
from tests import factories as f
from tests.conftest import totp_code, totp_device
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def household(programme, caseworker, supervisor):
    role_groups_sync()
    caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    supervisor.groups.add(Group.objects.get(name="Supervisors"))
    today = programme.local_today()
    arrival = today - datetime.timedelta(days=40)
    family = Family.objects.create(reference="F-0200", label="Samplov household (test)")
    mother = f.PersonFactory(
        given_name="Aisha",
        family_name="Samplova",
        date_of_birth=datetime.date(1994, 3, 2),
        languages=["ar", "kk"],
        phone="+7 000 200 00 01",
        interpreter_needed=True,
        interpreter_language="ar",
    )
    FamilyMembership.objects.create(family=family, person=mother, relationship="head")
    ReceivingRelative.objects.create(
        family=family,
        name="Gulnara Samplova (test)",
        relationship="sibling",
        phone="+7 000 200 00 02",
        address="7 Relatives lane, Kosshy (test)",
    )
    case = f.CaseFactory(reference="N-0200", person=mother, family=family, caseworker=caseworker, arrival_date=arrival)
    f.enrol(case, programme, by=caseworker, enrolled_on=arrival)
    return f.housed_with_work(case, caseworker)


def login_with_code(page, live_server, user):
    """A supervisor signs in with the password, then the authenticator's code."""
    device = totp_device(user)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "test-password-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#two-factor-form")
    page.fill("#id_token", totp_code(device))
    page.click("#two-factor-form input[type=submit]")
    page.wait_for_selector("#user-tools")


def test_a_caseworkers_morning(page, live_server, household, caseworker):
    """Dashboard → the overdue visit, with a name → its outcome → back on the case: 4 steps."""
    login(page, live_server, "caseworker")
    row = page.locator("#dashboard tr.overdue-follow-up").first
    text = row.inner_text()
    assert "N-0200" in text and "Aisha Samplova" in text and "Kosshy (test)" in text
    assert "Waiting for the birth record (test)." in page.inner_text("#dashboard")
    screenshot(page, "admin-dashboard.png")

    row.locator("text=Home visit").click()
    page.fill("#id_done_on", household.enrolments.get().programme.local_today().isoformat())
    page.fill("#id_outcome", "Visited; the family is settling in (test).")
    page.click('input[name="_save"]')
    page.wait_for_selector("#case-overview")
    assert page.url.endswith(f"/admin/casework/case/{household.pk}/change/")
    assert FollowUp.objects.get(kind="visit", done_on__isnull=False).outcome.startswith("Visited")

    # The search box takes any spelling or the reference.
    page.goto(f"{live_server.url}/admin/")
    page.fill("#dashboard-search", "Айша")
    page.press("#dashboard-search", "Enter")
    page.wait_for_selector("#result_list")
    assert "N-0200" in page.inner_text("#result_list")


def test_closure_requested_on_the_case_page_and_approved_by_the_supervisor(page, live_server, household, supervisor):
    """Caseworker: open the case, request closure with a reason (2 steps). Supervisor: open
    the request from the case or the desk, read the open work, approve with a comment (3 steps)."""
    login(page, live_server, "caseworker")
    page.goto(f"{live_server.url}/admin/casework/case/{household.pk}/change/")
    page.click("#request-closure summary")
    page.fill("#closure-reason", "Settled with her parents; documents follow through the school (test).")
    page.click('input[name="request-closure"]')
    page.wait_for_selector(".closure-pending")
    assert "Closure requested by" in page.inner_text("#case-status")
    page.context.clear_cookies()

    login_with_code(page, live_server, supervisor)
    page.goto(f"{live_server.url}/admin/casework/case/{household.pk}/change/")
    page.click("text=Decide on closure")
    page.wait_for_selector("#open-work")
    assert "Waiting for the birth record (test)." in page.inner_text("#open-work")
    page.fill("#id_comment", "Agreed: the school follows the documents (test).")
    screenshot(page, "admin-closure-decision.png")
    page.click('input[name="approve"]')
    page.wait_for_selector("#case-status")
    assert page.get_attribute("[data-case-status]", "data-case-status") == "closed"
    request = ClosureRequest.objects.get()
    assert request.status == "approved" and request.comment.startswith("Agreed")
    household.refresh_from_db()
    assert household.status == CaseStatus.CLOSED


def test_the_case_page_on_a_phone(browser, live_server, household):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = context.new_page()
    try:
        login(page, live_server, "caseworker")
        page.goto(f"{live_server.url}/admin/casework/case/{household.pk}/change/")
        page.wait_for_selector("#case-overview")
        # Nothing wider than the screen: every stage button is inside it.
        width = page.evaluate("document.documentElement.clientWidth")
        for box in page.locator("#stages input[type=submit]").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().right)"
        ):
            assert box <= width + 1
        # The family's phones, the receiving relative and the tracing form fit too.
        page.click("#add-relative-contact summary")
        for selector in (
            "#family td",
            "#receiving-relatives td",
            "#add-relative-contact input, #add-relative-contact select",
        ):
            for right in page.locator(selector).evaluate_all("els => els.map(e => e.getBoundingClientRect().right)"):
                assert right <= width + 1, selector
        screenshot(page, "admin-case-page-phone.png")
    finally:
        context.close()


def test_the_supervisors_desk(page, live_server, household, caseworker, supervisor, programme):
    """Supervisor: the desk on the home page; one click to a caseworker's overdue follow-ups,
    one to the decision, one to the last report."""
    from lifecycle import closure
    from programmes import reports

    closure.case_closure_request(case_id=household.pk, by=caseworker, reason="Settled (test).")
    reports.report_send(programme=programme, period=reports.period_last_complete(programme, programme.report_frequency))
    login_with_code(page, live_server, supervisor)
    desk = page.inner_text("#supervisor-desk")
    assert "N-0200" in desk and "Aisha Samplova" in desk
    assert page.inner_text('[data-caseworker="caseworker"] [data-count="overdue-follow-ups"]') == "1"
    screenshot(page, "admin-supervisor-desk.png")

    page.click('[data-caseworker="caseworker"] [data-count="overdue-follow-ups"]')
    page.wait_for_selector("#result_list")
    assert "Aisha Samplova" in page.inner_text("#result_list")

    page.goto(f"{live_server.url}/admin/")
    page.click("#supervisor-desk .stage-report >> text=Open")
    assert "403" not in page.title() and page.locator("body").inner_text().strip()


def test_the_case_page_in_arabic(page, live_server, household, caseworker):
    """Right to left: labels in Arabic, and every date whole, on one line, digits in order."""
    UserPreference.objects.create(user=caseworker, language="ar")
    login(page, live_server, "caseworker")
    page.goto(f"{live_server.url}/admin/casework/case/{household.pk}/change/")
    page.wait_for_selector("#case-overview")
    assert page.get_attribute("html", "dir") == "rtl"
    assert "مسؤول الحالة" in page.inner_text("#case-overview")
    # Stage names in Arabic, from the catalogue.
    assert "السكن ولمّ شمل الأسرة" in page.inner_text("#stages")
    assert "Housing and family reunification" not in page.inner_text("#stages")
    assert "يلزم مترجم" in page.inner_text("#interpreter")
    dates = page.locator("#case-overview .date").evaluate_all(
        "els => els.map(e => [e.innerText, e.getClientRects().length, getComputedStyle(e).direction])"
    )
    assert dates
    for text, lines, direction in dates:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?", text), text
        assert lines == 1 and direction == "ltr", text
    screenshot(page, "admin-case-page-ar.png")


def test_family_tracing_on_the_case_page(page, live_server, household):
    """A home visit's details and a relative contacted, recorded from the case page in one step."""
    login(page, live_server, "caseworker")
    page.goto(f"{live_server.url}/admin/casework/case/{household.pk}/change/")
    page.wait_for_selector("#case-overview")
    assert "Interpreter needed: Arabic" in page.inner_text("#interpreter")
    family = page.inner_text("#family")
    for value in ("+7 000 200 00 01", "Gulnara Samplova (test)", "+7 000 200 00 02", "7 Relatives lane"):
        assert value in family, value

    page.click("#add-relative-contact summary")
    page.fill("#id_tracing-relative_name", "Uncle Tracedov (test)")
    page.select_option("#id_tracing-relationship", "aunt_uncle")
    page.select_option("#id_tracing-method", "red_cross")
    page.fill("#id_tracing-contacted_on", str(household.arrival_date + datetime.timedelta(days=20)))
    page.select_option("#id_tracing-outcome", "refuses")
    page.fill("#id_tracing-reason", "Afraid of the neighbours' reaction (test).")
    page.click("#add-relative-contact input[type=submit]")
    page.wait_for_selector(".relative-contact")
    assert page.url.endswith(f"/admin/casework/case/{household.pk}/change/")
    row = page.inner_text(".relative-contact")
    assert "Uncle Tracedov (test)" in row and "Refuses contact" in row and "Through the Red Cross" in row
    assert RelativeContact.objects.get().stage.enrolment.case == household
    page.locator("#family-tracing").scroll_into_view_if_needed()
    screenshot(page, "admin-case-page-tracing.png")


def test_the_sign_in_header_is_whole_in_every_language(browser, live_server):
    """The site's name, the language chooser and the theme toggle stay inside the sign-in box,
    at a desktop's width and a phone's, in every language of the site."""
    for language in ("en", "ru", "kk", "ar"):
        for width in (1280, 390):
            context = browser.new_context(viewport={"width": width, "height": 700}, locale=language)
            page = context.new_page()
            try:
                page.goto(f"{live_server.url}/admin/login/")
                assert page.get_attribute("html", "lang") == language
                box = page.locator("#container").bounding_box()
                for selector in ("#site-name", "#language-chooser select", "#language-chooser button"):
                    part = page.locator(selector).first.bounding_box()
                    assert part["x"] >= box["x"] - 1 and part["x"] + part["width"] <= box["x"] + box["width"] + 1, (
                        language,
                        width,
                        selector,
                    )
                clipped = page.evaluate(
                    "() => { const h = document.querySelector('#header');"
                    " return [h.scrollWidth > h.clientWidth, h.scrollHeight > h.clientHeight]; }"
                )
                assert clipped == [False, False], (language, width)
            finally:
                context.close()
