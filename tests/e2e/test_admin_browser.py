"""A caseworker's day in the admin, in a real browser."""

import datetime

import pytest
from django.contrib.auth.models import Group

from casework.models import PersonName
from core.roles import role_groups_sync
from programmes.models import FollowUp, StageRecord
from programmes import workflow
from tests import factories as f
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def scene(programme, caseworker, other_caseworker, other_case):
    role_groups_sync()
    for user in (caseworker, other_caseworker):
        user.groups.add(Group.objects.get(name="Caseworkers"))
    family = f.cw.Family.objects.create(reference="F-0001", label="Samplov household (test)")
    arrival = programme.local_today() - datetime.timedelta(days=20)
    mother = f.PersonFactory(
        given_name="Aisha",
        family_name="Samplova",
        date_of_birth=datetime.date(1994, 3, 2),
        languages=["kk", "ru"],
        phone="+7 000 100 00 01",
    )
    PersonName.objects.create(person=mother, full_name="Айша Сэмплова", script="cyrillic", kind="spelling")
    PersonName.objects.create(person=mother, full_name="عائشة", script="arabic", kind="spelling")
    child = f.PersonFactory(
        given_name="Madina",
        family_name="Samplova",
        date_of_birth=datetime.date(2017, 6, 1),
        languages=["ar"],
        interpreter_needed=True,
        interpreter_language="ar",
    )
    f.cw.ReceivingRelative.objects.create(
        family=family,
        name="Gulnara Samplova (test)",
        relationship="parent",
        phone="+7 000 100 00 02",
        address="7 Relatives lane, Kosshy (test)",
    )
    f.cw.FamilyMembership.objects.create(family=family, person=mother, relationship="head")
    f.cw.FamilyMembership.objects.create(family=family, person=child, relationship="child")
    case = f.CaseFactory(reference="N-0100", person=mother, family=family, caseworker=caseworker, arrival_date=arrival)
    child_case = f.CaseFactory(
        reference="N-0101", person=child, family=family, caseworker=caseworker, arrival_date=arrival
    )
    for c in (case, child_case):
        f.enrol(c, programme, by=caseworker, enrolled_on=arrival)
    # The centre month is under way, with a visit that is overdue.
    centre = StageRecord.objects.get(enrolment__case=case, stage_type__code="accommodation")
    workflow.stage_start(stage_id=centre.pk, by=caseworker, on=arrival)
    FollowUp.objects.filter(stage=centre).update(due_date=programme.local_today() - datetime.timedelta(days=3))
    return {"case": case, "child_case": child_case, "other_case": other_case}


def count(page, name):
    return int(page.inner_text(f'[data-count="{name}"]'))


def test_a_caseworkers_day(page, live_server, scene, caseworker):
    login(page, live_server, "caseworker")
    overdue_before = count(page, "overdue-follow-ups")
    assert overdue_before == 1
    assert "N-0100" in page.inner_text("#dashboard")
    screenshot(page, "admin-dashboard.png")

    # Find the mother by the Cyrillic spelling of her name.
    page.goto(f"{live_server.url}/admin/casework/case/?q=Айша")
    page.click("text=N-0100")
    page.wait_for_selector("#case-overview")
    assert "عائشة" in page.inner_text("#case-overview")
    assert "N-0101" in page.inner_text("#family")  # the child's case, one click away
    # What a home visit needs: phones, the receiving relative, languages and interpreter need.
    family = page.inner_text("#family")
    for value in ("+7 000 100 00 01", "Gulnara Samplova (test)", "+7 000 100 00 02", "7 Relatives lane"):
        assert value in family, value
    assert "No interpreter needed" in page.inner_text("#interpreter")

    # Start psychological care.
    page.click('input[name="start-psychological"]')
    page.wait_for_selector(".messagelist")
    assert "Psychological care: started." in page.inner_text(".messagelist")
    assert "Active" in page.inner_text('tr[data-stage="psychological"]')

    # A refused transition is a message, and nothing changes.
    page.fill('tr[data-stage="accommodation"] form:has(input[name="complete-accommodation"]) input[name="note"]', "")
    page.click('input[name="complete-accommodation"]')
    page.wait_for_selector(".messagelist")
    assert "required" in page.inner_text(".messagelist").lower()
    assert "Active" in page.inner_text('tr[data-stage="accommodation"]')

    # Complete the centre month with its outcome: housing starts the same day.
    page.fill(
        'tr[data-stage="accommodation"] form:has(input[name="complete-accommodation"]) input[name="note"]',
        "Moved to her parents (test).",
    )
    page.click('input[name="complete-accommodation"]')
    page.wait_for_selector(".messagelist")
    assert "Completed" in page.inner_text('tr[data-stage="accommodation"]')
    assert "Active" in page.inner_text('tr[data-stage="housing"]')
    screenshot(page, "admin-case-page.png")

    # Record the outcome of a follow-up.
    page.click("#follow-ups >> text=record")
    page.fill("#id_done_on", programme_today(scene).isoformat())
    page.fill("#id_outcome", "Home visit held; settling in (test).")
    page.click('input[name="_save"]')
    page.wait_for_selector(".messagelist")

    recorded = FollowUp.objects.get(outcome="Home visit held; settling in (test).")
    assert recorded.done_on is not None
    # The workflow scheduled the next one.
    assert FollowUp.objects.filter(stage=recorded.stage, done_on__isnull=True, due_date__gt=recorded.done_on).exists()

    # The overdue centre visit went with the centre month: the dashboard shows it.
    page.goto(f"{live_server.url}/admin/")
    assert count(page, "overdue-follow-ups") == 0


def programme_today(scene):
    return scene["case"].enrolments.get().programme.local_today()


def test_a_caseworker_of_another_programme_cannot_open_the_case(page, live_server, scene):
    login(page, live_server, "caseworker2")
    page.goto(f"{live_server.url}/admin/casework/case/{scene['case'].pk}/change/")
    body = page.inner_text("body")
    assert "N-0100" not in body and "Aisha" not in body
    assert "doesn’t exist" in body or "does not exist" in body
    page.goto(f"{live_server.url}/admin/casework/case/?q=Aisha&mine=all")
    assert "N-0100" not in page.inner_text("body")
