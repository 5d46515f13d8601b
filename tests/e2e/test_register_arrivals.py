"""Issue #14: a caseworker registers an arriving mother and her three children in one
page, in a real browser, and lands on the mother's case with its stage plan.
Names are fictional."""

import datetime

import pytest
from django.contrib.auth.models import Group

from casework.models import Case, DistinctPersonPair, Family, FamilyMembership, Person, PersonName
from core.roles import role_groups_sync
from tests import factories as f
from tests.e2e.conftest import login, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def scene(programme, caseworker):
    role_groups_sync()
    caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    return f.OperationFactory(code="op-sample-1", name="Sample operation 1 (fictional)")


def test_a_family_of_four_in_one_page(page, live_server, scene, programme, caseworker):
    login(page, live_server, "caseworker")
    pages = []
    page.on("framenavigated", lambda frame: pages.append(frame.url) if frame == page.main_frame else None)

    page.click("text=Register arrivals")
    page.wait_for_selector("#register-arrivals")
    arrival = (programme.local_today() - datetime.timedelta(days=1)).isoformat()
    page.select_option("#id_operation", label="Sample operation 1 (fictional)")
    page.select_option("#id_programme", label="North (test)")
    page.fill("#id_arrival_date", arrival)
    page.fill("#id_relative_name", "Gulnara Samplova (fictional)")
    page.fill("#id_relative_phone", "+7 700 000 00 00")
    page.fill("#id_relative_address", "1 Sample street, Demo town")

    rows = [
        ("Zarina", "female", "head", {"date_of_birth": "1993-04-12"}),
        ("Amina", "female", "child", {"age": "2"}),
        ("Timur", "male", "child", {"age": "7"}),
        ("Leyla", "female", "child", {"age": "15"}),
    ]
    for index, (given, sex, relationship, born) in enumerate(rows):
        prefix = f"#id_members-{index}-"
        page.fill(prefix + "given_name", given)
        page.fill(prefix + "family_name", "Samplova")
        page.select_option(prefix + "sex", sex)
        page.select_option(prefix + "relationship", relationship)
        for field, value in born.items():
            page.fill(prefix + field, value)
        page.select_option(prefix + "nationality", "KZ")
        page.select_option(prefix + "languages", ["kk", "ru"])
    # The eldest daughter's name as her papers from the camp spell it, in Arabic and Russian.
    page.fill("#id_members-3-other_spellings", "ليلى سامبلوفا\nЛейла Сэмплова")
    screenshot(page, "admin-register-arrivals.png")

    page.click('input[name="register"]')
    page.wait_for_selector("#case-overview")

    assert "Registered 4 people" in page.inner_text(".messagelist")
    assert "Zarina" in page.inner_text("#case-overview")
    stages = page.inner_text("#stages")
    assert "Supervised accommodation" in stages or page.locator("tr[data-stage]").count() >= 3
    # The register page and the case page: two pages from the index.
    assert len(pages) == 2, pages

    leyla = Case.objects.get(person__given_name="Leyla").person
    assert set(PersonName.objects.filter(person=leyla).values_list("script", flat=True)) == {"arabic", "cyrillic"}
    assert Case.objects.filter(caseworker=caseworker).count() == 4


def test_the_duplicate_check_shows_who_is_on_file_and_takes_both_decisions(
    page, live_server, scene, programme, caseworker
):
    # On file: a woman whose case was closed (she is back), and a boy of another family.
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 1))
    PersonName.objects.create(person=aisha, full_name="Айша Фиктиева", script="cyrillic")
    closed = f.CaseFactory(person=aisha, caseworker=caseworker, reference="NORTH-2020-0007")
    f.enrol(closed, programme, by=caseworker)
    Case.objects.filter(pk=closed.pk).update(status="closed", closed_on=programme.local_today())
    timur = f.PersonFactory(
        given_name="Timur", family_name="Fiktiev", sex="male", date_of_birth=datetime.date(2016, 3, 2)
    )
    family = Family.objects.create(reference="F-NORTH-2021-0003", label="Fiktiev household")
    FamilyMembership.objects.create(family=family, person=timur, relationship="child", role="returnee")
    other = f.CaseFactory(person=timur, family=family, caseworker=caseworker, reference="NORTH-2021-0012")
    f.enrol(other, programme, by=caseworker)

    login(page, live_server, "caseworker")
    page.click("text=Register arrivals")
    page.wait_for_selector("#register-arrivals")
    page.select_option("#id_operation", label="Sample operation 1 (fictional)")
    page.select_option("#id_programme", label="North (test)")
    page.fill("#id_arrival_date", (programme.local_today() - datetime.timedelta(days=1)).isoformat())
    rows = [
        # The mother, typed as her camp papers spell her, in Cyrillic.
        ("Айша", "Фиктиева", "female", "head", {"date_of_birth": "1990-05-01"}),
        # A boy with the same name as the one on file, born a week later.
        ("Timur", "Fiktiev", "male", "child", {"date_of_birth": "2016-03-09"}),
        ("Amina", "Fiktieva", "female", "child", {"age": "4"}),
    ]
    for index, (given, family_name, sex, relationship, born) in enumerate(rows):
        prefix = f"#id_members-{index}-"
        page.fill(prefix + "given_name", given)
        page.fill(prefix + "family_name", family_name)
        page.select_option(prefix + "sex", sex)
        page.select_option(prefix + "relationship", relationship)
        for field, value in born.items():
            page.fill(prefix + field, value)
    page.click('input[name="register"]')

    # Nothing is saved yet: each flagged row shows its candidate beside it.
    page.wait_for_selector("tr.duplicates")
    assert "may already be on file" in page.inner_text(".messagelist")
    assert page.locator("tr.duplicates").count() == 2
    mother = page.inner_text('tr.duplicates[data-row="1"]')
    assert "Row 1 may already be on file" in mother
    assert "Aisha Fiktieva" in mother and "Айша Фиктиева" in mother
    assert "born 1990" in mother and "NORTH-2020-0007" in mother and "same date of birth" in mother
    boy = page.inner_text('tr.duplicates[data-row="2"]')
    assert "Timur Fiktiev" in boy and "born 2016" in boy
    assert "F-NORTH-2021-0003" in boy and "NORTH-2021-0012" in boy and "within a month" in boy
    assert not page.locator('tr.duplicates[data-row="3"]').count()
    assert Person.objects.count() == 2
    page.locator('tr.duplicates[data-row="1"] input[type=radio][value^="same:"]').check()
    page.locator('tr.duplicates[data-row="2"] input[type=radio][value="different"]').check()
    screenshot(page, "admin-duplicate-check.png")

    page.click('input[name="register"]')
    page.wait_for_selector("#case-overview")
    assert "Registered 3 people" in page.inner_text(".messagelist")
    assert "Aisha Fiktieva" in page.inner_text("#case-overview")
    # The mother is the person on file, with a new case; the boy is someone else.
    assert Person.objects.count() == 4
    assert Case.objects.filter(person=aisha).count() == 2
    assert Case.objects.get(person=aisha, status="open").family.memberships.count() == 3
    new_timur = Person.objects.exclude(pk=timur.pk).get(given_name="Timur")
    pair = DistinctPersonPair.objects.get()
    assert {pair.person_a_id, pair.person_b_id} == {timur.pk, new_timur.pk}


def test_the_review_queue_registers_a_household_once_decided(page, live_server, scene, programme, caseworker):
    import csv
    import io

    from lifecycle.cohort_import import COLUMNS, cohort_import
    from lifecycle.models import CohortImportRow

    on_file = f.PersonFactory(given_name="Samira", family_name="Reviewova", date_of_birth=datetime.date(1988, 2, 3))
    enrolled = f.CaseFactory(person=on_file, caseworker=caseworker, reference="NORTH-2019-0004")
    f.enrol(enrolled, programme, by=caseworker)
    arrived = (programme.local_today() - datetime.timedelta(days=2)).isoformat()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, restval="")
    writer.writeheader()
    # A namesake of the woman on file, in Cyrillic, born the same day, with her son.
    writer.writerow(
        dict(household="R1", relationship="head", given_name="Самира", family_name="Ревьюова", sex="female")
        | dict(date_of_birth="1988-02-03", arrival_date=arrived)
    )
    writer.writerow(
        dict(household="R1", relationship="child", given_name="Arman", family_name="Reviewov", sex="male", age="6")
    )
    result = cohort_import(
        buffer.getvalue().encode(), file_name="cohort.csv", programme=programme, operation=scene, by=caseworker
    )
    assert len(result.awaiting_review) == 1 and result.created_persons == 0

    login(page, live_server, "caseworker")
    page.goto(f"{live_server.url}/admin/lifecycle/cohortimport/{result.cohort_import.pk}/review/")
    household = page.locator("#review-import form.household")
    assert household.count() == 1
    text = household.inner_text()
    assert "Самира Ревьюова" in text and "Samira Reviewova" in text
    assert "born 1988" in text and "NORTH-2019-0004" in text and "same date of birth" in text
    page.locator("#review-import tr.flagged input[type=radio][value=different]").check()
    page.click("#review-import input[type=submit].default")

    page.wait_for_selector(".messagelist")
    assert "Registered 2 people" in page.inner_text(".messagelist")
    assert page.locator("#review-import form.household").count() == 0
    assert set(CohortImportRow.objects.values_list("status", flat=True)) == {"registered"}
    assert Case.objects.filter(person__given_name="Самира").count() == 1
    assert (
        DistinctPersonPair.objects.filter(person_a=on_file).exists()
        or DistinctPersonPair.objects.filter(person_b=on_file).exists()
    )
