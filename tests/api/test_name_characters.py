"""Names and references refuse control and invisible formatting characters through the API,
and keep the joiners that Persian and Arabic spellings need."""

from __future__ import annotations

import pytest
from django.urls import reverse

from casework.models import Agency, Person
from programmes.models import Programme

pytestmark = pytest.mark.django_db

# Each hides or reorders what a caseworker reads, or splits a line in a log or an export.
REFUSED = {
    "right-to-left override": "Quotecheck\u202egnp.exe",
    "zero-width space": "Quote\u200bcheck",
    "newline": "Quote\ncheck",
    "carriage return": "Quote\rcheck",
    "escape": "Quote\x1b[31mcheck",
    "tab": "Quote\tcheck",
    "byte-order mark": "Quote\ufeffcheck",
    "left-to-right mark": "Quote\u200echeck",
    "line separator": "Quote\u2028check",
    "paragraph separator": "Quote\u2029check",
}


def patch_person(world, data):
    client = world.client("caseworker")
    url = reverse("person-detail", kwargs={"pk": world.person.pk})
    etag = client.get(url)["ETag"]
    return client.patch(url, data, format="json", HTTP_IF_MATCH=etag)


@pytest.mark.parametrize("field", ["given_name", "family_name", "patronymic", "place_of_birth"])
@pytest.mark.parametrize("kind", REFUSED)
def test_person_names_with_control_or_format_characters_are_refused_through_the_api(world, field, kind):
    before = Person.objects.filter(pk=world.person.pk).values().get()
    response = patch_person(world, {field: REFUSED[kind]})
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body["errors"]) == [field]
    # The answer never quotes what was sent.
    assert "Quote" not in response.content.decode()
    assert Person.objects.filter(pk=world.person.pk).values().get() == before


def test_person_names_keep_the_joiners_persian_and_arabic_need_through_the_api(world):
    # ZWNJ in a Persian family name, ZWJ in an Arabic given name.
    response = patch_person(world, {"family_name": "می\u200cخواهی", "given_name": "عائشة\u200d"})
    assert response.status_code == 200, response.content
    world.person.refresh_from_db()
    assert world.person.family_name == "می\u200cخواهی"
    assert world.person.given_name == "عائشة\u200d"


def test_agency_name_with_a_bidi_override_is_refused_through_the_api(world):
    client = world.client("administrator")
    response = client.post(
        reverse("agency-list"), {"code": "new-agency", "name": "Agency\u202e (test)", "kind": "ngo"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["name"]
    assert not Agency.objects.filter(code="new-agency").exists()


def test_programme_name_with_a_newline_is_refused_through_the_api(world):
    body = {"code": "east", "name": "East\n(test)", "country": "KZ", "time_zone": "Asia/Almaty", "is_active": True}
    response = world.client("administrator").post(reverse("programme-list"), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["name"]
    assert not Programme.objects.filter(code="east").exists()
