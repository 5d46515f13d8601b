"""Name search across scripts and spellings (casework.names), table-driven, and through the admin's search box."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse

from casework.models import NameKind, Person, PersonName, Script
from casework.names import name_key, name_search_condition
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

# The people on record: (primary name, other spellings). All fictional.
PEOPLE = {
    "aisha": ("Aisha Fiktieva", ["Айша Фиктиева", "عائشة"]),
    "zeinab": ("Zeinab Demoyeva", []),
    "muhammad": ("Muhammad Samplov", ["محمد"]),
    "ibrahim": ("Ibrahim Testov", []),
    "omar": ("Omar Fiktiev", ["عمر"]),
    "mariam": ("Mariam Demoyeva", ["مريم"]),
    "miriam": ("Miriam Samplova", []),
    "khadija": ("Khadija Demoyeva", ["Хадиджа Демоева"]),
    "aigerim": ("Әйгерім Samplova", []),
}

# query -> (people it must find, people it must not find)
CASES = [
    # Latin
    ("Aisha", {"aisha"}, {"zeinab", "mariam"}),
    ("Aishah", {"aisha"}, set()),
    ("Aysha Fiktieva", {"aisha"}, {"omar"}),
    ("Fikt", {"aisha", "omar"}, {"mariam"}),
    ("Mohammed", {"muhammad"}, {"mariam"}),
    ("Zaynab", {"zeinab"}, {"aisha"}),
    ("Omar", {"omar"}, {"mariam", "miriam"}),
    ("Khadija Demoyeva", {"khadija"}, {"zeinab", "mariam"}),
    ("Demoyeva", {"zeinab", "mariam", "khadija"}, {"aisha"}),
    # Cyrillic, surname first as in documents
    ("Фиктиева Айша", {"aisha"}, {"omar", "zeinab"}),
    ("Зейнаб", {"zeinab"}, {"aisha"}),
    ("Мухаммед", {"muhammad"}, {"mariam"}),
    ("Ибрагим", {"ibrahim"}, {"aisha"}),
    ("Хадиджа", {"khadija"}, {"aisha"}),
    # Kazakh (Latin 2021 alphabet and Cyrillic)
    ("Ayşa", {"aisha"}, {"zeinab"}),
    ("Fiktieva Ayşa", {"aisha"}, {"omar"}),
    ("Aigerim", {"aigerim"}, {"aisha"}),
    ("Әйгерім", {"aigerim"}, set()),
    # Arabic: consonants only, matched as whole tokens
    ("عمر", {"omar"}, {"mariam", "miriam"}),
    ("مريم", {"mariam", "miriam"}, {"omar"}),
    ("محمد", {"muhammad"}, {"mariam"}),
    ("إبراهيم", {"ibrahim"}, {"aisha"}),
    ("زينب", {"zeinab"}, {"aisha"}),
    ("عائشة", {"aisha"}, {"omar"}),
]


@pytest.fixture
def people(db):
    recorded = {}
    for label, (primary, spellings) in PEOPLE.items():
        given, family = primary.split(" ", 1)
        person = f.PersonFactory(given_name=given, family_name=family)
        for spelling in spellings:
            script = Script.ARABIC if any("\u0600" <= c <= "\u06ff" for c in spelling) else Script.CYRILLIC
            PersonName.objects.create(person=person, full_name=spelling, script=script, kind=NameKind.SPELLING)
        recorded[label] = person
    return recorded


def found(query: str) -> set[int]:
    condition = name_search_condition(query, "search_key") | name_search_condition(query, "names__search_key")
    return set(Person.objects.filter(condition).values_list("pk", flat=True))


@pytest.mark.parametrize(("query", "expected", "excluded"), CASES, ids=[case[0] for case in CASES])
def test_name_search(people, query, expected, excluded):
    result = found(query)
    for label in expected:
        assert people[label].pk in result, f"{query!r} should find {PEOPLE[label][0]}"
    for label in excluded:
        assert people[label].pk not in result, f"{query!r} should not find {PEOPLE[label][0]}"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Muhammad", "Mohammed"),
        ("Мухаммед", "Muhammad"),
        ("Ибрагим", "Ibrahim"),
        ("Zeinab", "Зейнаб"),
        ("Aisha", "Aishah"),
        ("Айша", "Ayşa"),
    ],
)
def test_variants_share_a_skeleton(one, other):
    assert name_key(one).split("~")[1:] == name_key(other).split("~")[1:]


def test_key_never_matches_inside_a_token():
    # "mr" (Omar in Arabic script) is the start of Mariam's skeleton "mrm": whole tokens only.
    assert " ~mr " not in name_key("Mariam")
    assert name_search_condition("123", "search_key") is None


def test_admin_search_finds_surname_first_cyrillic(client, people):
    force_login(client, f.UserFactory(username="admin", is_superuser=True))
    response = client.get(reverse("admin:casework_person_changelist"), {"q": "Фиктиева Айша"})
    page = response.content.decode()
    assert "Aisha Fiktieva" in page
    assert "Omar Fiktiev" not in page
    response = client.get(reverse("admin:casework_person_changelist"), {"q": "عمر"})
    page = response.content.decode()
    assert "Omar Fiktiev" in page
    assert "Mariam Demoyeva" not in page


def test_migration_recomputes_stored_keys(people):
    migration = importlib.import_module("casework.migrations.0010_intake_created_by_and_name_keys")
    aisha = people["aisha"]
    Person.objects.filter(pk=aisha.pk).update(search_key="aisha fiktieva")
    PersonName.objects.filter(person=aisha).update(search_key="stale")
    migration.recompute_name_keys(apps, SimpleNamespace(connection=connection))
    aisha.refresh_from_db()
    assert aisha.search_key == name_key("Aisha Fiktieva")
    assert set(aisha.names.values_list("search_key", flat=True)) == {name_key("Айша Фиктиева"), name_key("عائشة")}


@pytest.mark.parametrize(("query", "expected", "excluded"), CASES, ids=[case[0] for case in CASES])
def test_api_person_search_finds_the_same_people(people, administrator, query, expected, excluded):
    """The API's person search (name in the body) uses the same keys as the admin's search box."""
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(administrator)[1]}")
    response = client.post(reverse("person-search"), {"name": query}, format="json")
    assert response.status_code == 200
    result = {row["id"] for row in response.json()["results"]}
    for label in expected:
        assert people[label].pk in result, f"{query!r} should find {PEOPLE[label][0]}"
    for label in excluded:
        assert people[label].pk not in result, f"{query!r} should not find {PEOPLE[label][0]}"
