"""The stage report's justice section: people in custody, hearings and releases of the coming
period, and people released without a community plan, per programme."""

from __future__ import annotations

import datetime

import pytest

from justice import plan, services
from justice.models import CourtHearing, LegalProceeding
from programmes import reports
from tests import factories as f

pytestmark = pytest.mark.django_db

CHARGES = "Charges that stay out of the report"


def section(numbers) -> dict[str, int]:
    (justice,) = [s for s in numbers["sections"] if s["key"] == "justice"]
    return {row["key"]: row["value"] for row in justice["rows"]}


def test_the_report_counts_custody_hearings_releases_and_missing_community_plans(
    programme, other_programme, caseworker, supervisor
):
    plan.catalogue_install(programme=programme)
    today = programme.local_today()
    period = reports.period_containing(today - datetime.timedelta(days=7), "weekly")
    cases = []
    for n in range(4):
        case = f.CaseFactory(caseworker=caseworker, reference=f"J-{n}")
        f.enrol(case, programme)
        cases.append(case)
    # In custody, released in 3 days, a hearing tomorrow and one far ahead.
    held = LegalProceeding.objects.create(
        case=cases[0],
        opened_on=today - datetime.timedelta(days=50),
        charges=CHARGES,
        detained_since=today - datetime.timedelta(days=40),
        expected_release_on=today + datetime.timedelta(days=3),
    )
    CourtHearing.objects.create(proceeding=held, held_on=today + datetime.timedelta(days=1), court="Court (test)")
    CourtHearing.objects.create(proceeding=held, held_on=today + datetime.timedelta(days=60), court="Court (test)")
    # In custody, released much later.
    LegalProceeding.objects.create(
        case=cases[1],
        opened_on=today - datetime.timedelta(days=50),
        detained_since=today - datetime.timedelta(days=40),
        expected_release_on=today + datetime.timedelta(days=300),
    )
    # Released through the service: the community plan is there.
    released = services.proceeding_save(
        proceeding=LegalProceeding(
            case=cases[2],
            opened_on=today - datetime.timedelta(days=50),
            detained_since=today - datetime.timedelta(days=40),
        ),
        by=supervisor,
    )
    released.actual_release_on = today - datetime.timedelta(days=1)
    services.proceeding_save(proceeding=released, by=supervisor)
    # Released, recorded before the programme had a community plan to give.
    LegalProceeding.objects.create(
        case=cases[3],
        opened_on=today - datetime.timedelta(days=50),
        detained_since=today - datetime.timedelta(days=40),
        actual_release_on=today - datetime.timedelta(days=2),
    )
    # Another programme's people do not count here.
    elsewhere = f.CaseFactory(reference="S-9")
    f.enrol(elsewhere, other_programme)
    LegalProceeding.objects.create(
        case=elsewhere, opened_on=today, detained_since=today, expected_release_on=today + datetime.timedelta(days=1)
    )

    numbers = reports.report_numbers(programme=programme, period=period, today=today)
    assert section(numbers) == {
        "in_custody": 2,
        "hearings_coming": 1,
        "releases_coming": 1,
        "released_without_community_plan": 1,
    }
    subject, text, html = reports.report_render(numbers)
    assert "Justice track" in text and "people in custody: 2" in text and "people in custody: 2" in html
    assert CHARGES not in text + html
