"""Family tracing and reunification (issue #17): each relative contacted is a record on
the housing stage, counted on the housing placement and in the stage report, read and
written through the API by staff and the agency referred for housing; the relatives
receiving the family reach that agency too, and no other partner."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from casework.models import Family, ReceivingRelative
from programmes import reports
from programmes.models import HousingPlacement, RelativeContact, StageKind
from tests.api.test_stage_details import partners  # noqa: F401

pytestmark = pytest.mark.django_db

RELATIVE = "Sentinel Aunt Tracingova (test)"


def _day(days: int) -> str:
    return str(datetime.date.today() - datetime.timedelta(days=days))


def _contact(stage, outcome: str, reason: str = "") -> dict:
    return {
        "stage": stage.pk,
        "relative_name": RELATIVE,
        "relationship": "aunt_uncle",
        "method": "red_cross",
        "contacted_on": _day(2),
        "outcome": outcome,
        "reason": reason,
    }


def test_the_housing_agency_records_a_refusal_and_it_is_counted(partners):  # noqa: F811
    stage = partners.stage(partners.adult, StageKind.HOUSING)
    client = partners.client("housing")
    missing_reason = client.post(reverse("relative-contact-list"), _contact(stage, "refuses"), format="json")
    assert missing_reason.status_code == 400
    created = client.post(
        reverse("relative-contact-list"), _contact(stage, "refuses", "Fears the neighbours (test)"), format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["relative_name"] == RELATIVE and created.json()["case"] == partners.adult.pk
    # The contact started the planned housing stage, as any detail whose work began.
    stage.refresh_from_db()
    assert stage.status == "active"
    client.post(reverse("relative-contact-list"), _contact(stage, "unreachable"), format="json")

    placement = HousingPlacement.objects.create(
        stage=stage, address="1 Test Street", living_with="relatives", moved_in_on=datetime.date.today()
    )
    answer = partners.client("caseworker").get(reverse("housing-placement-detail", kwargs={"pk": placement.pk}))
    assert answer.json()["relatives_refusing_contact"] == 1

    numbers = reports.report_numbers(
        programme=partners.programme,
        period=reports.period_containing(partners.programme.local_today(), "weekly"),
    )
    section = next(s for s in numbers["sections"] if s["key"] == "family_tracing")
    rows = {row["key"]: row["value"] for row in section["rows"]}
    assert rows["relatives_refusing"] == 1 and rows["relatives_unreachable"] == 1
    # Nobody agreed yet: the adult's family (if any) is not reunified.
    agreed = dict(_contact(stage, "agrees"), relative_name="Another relative (test)")
    assert client.post(reverse("relative-contact-list"), agreed, format="json").status_code == 201
    assert RelativeContact.objects.filter(stage=stage).count() == 3


def test_relatives_names_and_receiving_relatives_are_for_staff_and_the_housing_agency(partners):  # noqa: F811
    stage = partners.stage(partners.adult, StageKind.HOUSING)
    contact = RelativeContact.objects.create(
        stage=stage,
        relative_name=RELATIVE,
        relationship="parent",
        method="phone",
        contacted_on=datetime.date.today(),
    )
    family = Family.objects.create(reference="F-TRACING-1", label="Tracing household (test)")
    partners.adult.family = family
    partners.adult.save(update_fields=["family"])
    ReceivingRelative.objects.create(family=family, name="Receiving Sentinel (test)", phone="+7 000 000 00 01")
    placement = HousingPlacement.objects.create(
        stage=stage, address="1 Test Street", living_with="relatives", moved_in_on=datetime.date.today()
    )
    contact_url = reverse("relative-contact-detail", kwargs={"pk": contact.pk})
    placement_url = reverse("housing-placement-detail", kwargs={"pk": placement.pk})
    for who in ("caseworker", "supervisor", "housing"):
        assert partners.client(who).get(contact_url).json()["relative_name"] == RELATIVE, who
        relatives = partners.client(who).get(placement_url).json()["receiving_relatives"]
        assert [row["phone"] for row in relatives] == ["+7 000 000 00 01"], who
    # An NGO referred for all services sees the housing stage, not the names.
    seen_by_ngo = partners.client("ngo").get(contact_url)
    assert seen_by_ngo.status_code == 200 and seen_by_ngo.json()["relative_name"] is None
    assert partners.client("ngo").get(placement_url).json()["receiving_relatives"] is None
    for route in ("relative-contact-list", "relative-contact-changes", "housing-placement-list"):
        text = partners.client("ngo").get(reverse(route)).content.decode()
        assert RELATIVE not in text and "Receiving Sentinel" not in text, route
    # Other agencies do not see the contacts at all.
    assert partners.client("school").get(contact_url).status_code == 404
    assert partners.client("psychologist").get(contact_url).status_code == 404
