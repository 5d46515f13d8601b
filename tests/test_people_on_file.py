"""The cohort import's index of the people on file (``casework.duplicates.PeopleOnFile``)
finds exactly the candidates that scoring every person on file one by one finds: the
same people, scores and reasons, whether the index is asked token by token, prepared
for a whole file at once, or holds people registered since it was read. The names sit
at the edges of the rule: tokens exactly at ``TOKEN_FLOOR`` alike and one letter
below, the same consonants written without vowels, a given name held by more than
``_FEW_PEOPLE`` people, and former names and aliases (never compared)."""

from __future__ import annotations

import datetime
import random

import pytest
from rapidfuzz import fuzz

from casework import duplicates
from casework.duplicates import PeopleOnFile, _score, _spellings, _tokens_of_key
from casework.models import NameKind, Person, PersonName, Script
from casework.names import name_key

pytestmark = pytest.mark.django_db

D = datetime.date
BORN = D(2012, 5, 20)

# Ten-letter tokens: three letters changed is exactly TOKEN_FLOOR (0.7) alike, four is below.
GIVEN = ["zarinqavel", "lumiqadora", "ornelqasti", "quenthamir"]
FAMILY = ["qwertovana", "plimovaset", "vrellowiks", "ozzelquani"]
# A given name and a family name each held by more people than the index looks at one by one.
COMMON, COMMON_FAMILY = "amirqanesh", "vostrelina"
# Only the consonants alike: "qwrnq" (written from Arabic script) is 0.67 alike in writing.
VOWELLED, CONSONANTS = "qawarinaqa", "qwrnq"
ESTIMATE = D(2013, 1, 1)


def changed(token: str, letters: int, *, seed: int) -> str:
    """``token`` with ``letters`` of its letters replaced by letters it does not have."""
    rng = random.Random(seed)
    chars = list(token)
    for position in rng.sample(range(len(chars)), letters):
        chars[position] = rng.choice([c for c in "bcdfgjkpxyw" if c not in token])
    return "".join(chars)


def test_the_edges_are_where_the_table_says():
    for token in GIVEN + FAMILY:
        assert fuzz.ratio(token, changed(token, 3, seed=1)) == 70
        assert fuzz.ratio(token, changed(token, 4, seed=1)) == 60
    assert duplicates.TOKEN_FLOOR == 0.7 and duplicates._FEW_PEOPLE < 300


def person(given: str, family: str, *, sex="female", born=BORN, estimated=False) -> Person:
    return Person(
        given_name=given.capitalize(),
        family_name=family.capitalize(),
        sex=sex,
        date_of_birth=born,
        date_of_birth_estimated=estimated,
        nationality="KZ",
    )


@pytest.fixture
def on_file():
    """About 420 people: variants of the names at every distance, both sexes, near and far
    dates, estimated dates, spellings without vowels, and former names and aliases."""
    rng = random.Random(2026)
    people, spellings = [], []
    for i, given in enumerate(GIVEN):
        for j, family in enumerate(FAMILY):
            for letters in range(5):
                seed = i * 100 + j * 10 + letters
                people.append(person(changed(given, letters, seed=seed), family))
                people.append(person(given, changed(family, letters, seed=seed + 1)))
            people.append(person(given, family, sex="male"))
            people.append(person(given, family, born=BORN + datetime.timedelta(days=31)))
            people.append(person(given, family, born=BORN + datetime.timedelta(days=32)))
            people.append(person(given, family, born=D(2014, 5, 20), estimated=True))
            people.append(person(given, family, born=D(2014, 5, 22), estimated=True))
    for k in range(300):
        given = changed(COMMON, rng.choice([0, 0, 2, 3, 4]), seed=2000 + k)
        people.append(person(given, changed(COMMON_FAMILY, rng.choice([0, 2, 3, 4]), seed=1000 + k), born=BORN))
    people.append(person(VOWELLED, FAMILY[1]))
    # Estimated dates two years and a day (the widest tolerance) from one asked, and a day more.
    for days in (731, 732):
        people.append(person(GIVEN[0], FAMILY[0], born=ESTIMATE + datetime.timedelta(days=days), estimated=True))
    for each in people:
        each.search_key = name_key(each.full_name)
    Person.objects.bulk_create(people)
    people = list(Person.objects.order_by("pk"))
    for index, each in enumerate(people[:120]):
        kind = [NameKind.SPELLING, NameKind.FORMER, NameKind.ALIAS][index % 3]
        # Written from Arabic script: consonants only, or another person's name altogether.
        full_name = "zrnqvl qwrtvn" if index % 2 else f"{GIVEN[index % 4]} {FAMILY[(index + 1) % 4]}"
        spellings.append(
            PersonName(person=each, full_name=full_name, search_key=name_key(full_name), script=Script.LATIN, kind=kind)
        )
    PersonName.objects.bulk_create(spellings)
    return people


def everyone() -> list[tuple[int, str, datetime.date, bool, list[list[str]]]]:
    """Every person on file with their primary name and their spellings that are neither
    former names nor aliases, read once."""
    plain = {}
    for person_id, key in PersonName.objects.exclude(kind__in=[NameKind.FORMER, NameKind.ALIAS]).values_list(
        "person_id", "search_key"
    ):
        plain.setdefault(person_id, []).append(_tokens_of_key(key))
    return [
        (pk, sex, born, estimated, [_tokens_of_key(key), *plain.get(pk, [])])
        for pk, sex, born, estimated, key in Person.objects.order_by("pk").values_list(
            "pk", "sex", "date_of_birth", "date_of_birth_estimated", "search_key"
        )
    ]


def every_one_scored(people, spellings, born, estimated, sex) -> dict[int, tuple[float, list[str]]]:
    """The rule applied to every person on file in turn."""
    found = {}
    for pk, their_sex, their_born, their_estimate, names in people:
        if their_sex == sex:
            scored = _score(spellings, born, estimated, their_born, their_estimate, names)
            if scored is not None:
                found[pk] = scored
    return found


def entries():
    """The names an import brings: each name of the table, at every distance from it, in
    both orders, written without vowels, and the common given name."""
    rows = []
    for i, given in enumerate(GIVEN):
        for j, family in enumerate(FAMILY):
            rows.append((given, family, []))
            rows.append((family, given, []))
            rows.append((changed(given, 3, seed=7 + i), family, []))
            rows.append((given, changed(family, 2, seed=9 + j), ["zrnqvl qwrtvn"]))
        rows.append((given, "", []))  # one token: nothing else to look for
    rows.append((COMMON, COMMON_FAMILY, []))
    rows.append((changed(COMMON, 3, seed=50), COMMON_FAMILY, []))
    rows.append((COMMON, changed(COMMON_FAMILY, 3, seed=51), []))
    rows.append((CONSONANTS, FAMILY[1], []))
    return rows


ASKED = [
    ("female", BORN, False),
    ("male", BORN, False),
    ("female", ESTIMATE, True),
    ("female", BORN + datetime.timedelta(days=40), False),
]


@pytest.mark.parametrize("prepared", [False, True], ids=["one by one", "prepared for the file"])
def test_the_index_finds_exactly_whom_scoring_everyone_finds(on_file, prepared):
    index = PeopleOnFile(Person.objects.all())
    rows = entries()
    if prepared:
        index.prepare(rows)
    people, seen = everyone(), 0
    for given, family, other in rows:
        spellings = _spellings(given, family, other)
        for sex, born, estimated in ASKED:
            expected = every_one_scored(people, spellings, born, estimated, sex)
            found = ask(index, given, family, other, sex, born, estimated)
            assert found == expected, (given, family, other, sex, born)
            seen += len(found)
    # The table reaches every branch: many candidates in all, some with near names only.
    assert seen > 500


def ask(index, given, family, other, sex, born, estimated):
    return index.candidates(
        given_name=given, family_name=family, date_of_birth=born, estimated=estimated, sex=sex, other_spellings=other
    )


def test_people_registered_since_the_index_was_read_are_found_as_the_others(on_file):
    """An import registers its rows while it checks them: the people added are found as
    if they had been on file from the start, also by a name asked before they came."""
    half = on_file[len(on_file) // 2].pk
    index = PeopleOnFile(Person.objects.filter(pk__lt=half))
    rows = entries()
    index.prepare(rows)
    people = everyone()
    known = {pk for pk, *_rest in people if pk < half}
    # The vowelled name comes in the last batch: "qwrnq" was asked before, without it.
    added = Person.objects.filter(pk__gte=half).order_by("pk")
    assert VOWELLED.capitalize() in [each.given_name for each in added[150:]]
    for start in range(0, added.count(), 150):
        for each in added[start : start + 150]:
            plain = each.names.exclude(kind__in=[NameKind.FORMER, NameKind.ALIAS]).values_list("full_name", flat=True)
            index.add(each, list(plain))
            known.add(each.pk)
        so_far = [row for row in people if row[0] in known]
        for given, family, other in rows:
            spellings = _spellings(given, family, other)
            for sex, born, estimated in ASKED:
                expected = every_one_scored(so_far, spellings, born, estimated, sex)
                assert ask(index, given, family, other, sex, born, estimated) == expected, (given, family, sex, born)


def test_a_person_registered_again_with_a_closer_spelling_scores_as_the_closer(on_file):
    near = Person.objects.create(
        given_name=changed(GIVEN[2], 3, seed=99).capitalize(), family_name=FAMILY[2], sex="female", date_of_birth=BORN
    )
    index = PeopleOnFile(Person.objects.all())
    asked = (GIVEN[2], FAMILY[2], [], "female", BORN, False)
    assert ask(index, *asked)[near.pk] == (0.85, ["similar name", "same date of birth"])
    index.add(near, [f"{GIVEN[2]} {FAMILY[2]}"])
    assert ask(index, *asked)[near.pk] == (1.0, ["same name", "same date of birth"])
    # A farther spelling added later does not lower it.
    index.add(near, [changed(GIVEN[2], 3, seed=98)])
    assert ask(index, *asked)[near.pk] == (1.0, ["same name", "same date of birth"])


def test_no_date_of_birth_or_no_name_finds_no_one(on_file):
    index = PeopleOnFile(Person.objects.all())
    ask = {"estimated": False, "sex": "female"}
    assert index.candidates(given_name="Zarinqavel", family_name="Qwertovana", date_of_birth=None, **ask) == {}
    assert index.candidates(given_name=" ", family_name="-", date_of_birth=BORN, **ask) == {}
    assert index.candidates(given_name="Zarinqavel", family_name="Qwertovana", date_of_birth=BORN, **ask)
