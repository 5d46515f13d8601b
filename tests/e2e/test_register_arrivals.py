"""Issue #14: a caseworker registers an arriving mother and her three children in one
page, in a real browser, and lands on the mother's case with its stage plan.
Names are fictional."""

import datetime

import pytest
from django.contrib.auth.models import Group

from casework.models import Case, PersonName
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
