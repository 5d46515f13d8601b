"""The duplicate check at intake (casework.duplicates): the rule, table-driven, and the admin's add form."""

import datetime
import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from casework import selectors
from casework.duplicates import MAX_CANDIDATES, NAME_THRESHOLD, duplicate_candidates, name_similarity
from casework.models import IdentifierKind, NameKind, Person, PersonIdentifier, PersonName, Script, Sex
from casework.names import name_tokens
from core.roles import role_groups_sync
from tests import factories as f
from tests.conftest import force_login

# (name given, name on file): the same person written another way.
SAME_PERSON = [
    ("Aisha Fiktieva", "Aisha Fiktieva"),
    ("Фиктиева Айша", "Aisha Fiktieva"),  # Cyrillic, surname first
    ("Ayşa Fiktieva", "Aisha Fiktieva"),  # Kazakh Latin
    ("Aishah Fiktiyeva", "Aisha Fiktieva"),
    ("Muhammad Samplov", "Mohammed Samplov"),
    ("Мухаммед Самплов", "Muhammad Samplov"),
    ("Ибрагим Тестов", "Ibrahim Testov"),
    ("Zaynab Demoyeva", "Зейнаб Демоева"),
    ("Хадиджа Демоева", "Khadija Demoyeva"),
    ("Әйгерім Samplova", "Aigerim Samplova"),  # Kazakh Cyrillic
    ("Fatima Samplova", "Fatma Samplova"),
    ("زينب", "Zeinab"),  # Arabic script: consonants only
    ("إبراهيم", "Ibrahim"),
    ("محمد", "Muhammad"),
    ("عائشة", "Aisha"),
]

# (name given, name on file): different people, however alike.
DIFFERENT_PEOPLE = [
    ("Aisha Fiktieva", "Amina Fiktieva"),  # sisters
    ("Hasan Demoyev", "Husein Demoyev"),  # twins: the same Metaphone key, different names
    ("Omar Samplov", "Amir Samplov"),
    ("Mariam Demoyeva", "Zeinab Demoyeva"),
    ("Aisha Fiktieva", "Aisha Samplova"),
    ("Kuanish Testov", "Kanat Testov"),
    ("عمر", "Mariam"),  # Omar in Arabic script is not Mariam
    ("Зейнаб Фиктиева", "Zeinab Samplova"),
]


@pytest.mark.parametrize(("given", "on_file"), SAME_PERSON, ids=[" / ".join(pair) for pair in SAME_PERSON])
def test_same_person_written_another_way(given, on_file):
    assert name_similarity(name_tokens(given), name_tokens(on_file)) >= NAME_THRESHOLD


@pytest.mark.parametrize(("given", "on_file"), DIFFERENT_PEOPLE, ids=[" / ".join(pair) for pair in DIFFERENT_PEOPLE])
def test_different_people(given, on_file):
    assert name_similarity(name_tokens(given), name_tokens(on_file)) < NAME_THRESHOLD


def candidates(**overrides):
    """(person, reasons) of each candidate for Aisha Fiktieva, born 1990-05-17 (``scored`` without the score)."""
    return [(pk, reasons) for pk, _score, reasons in scored(**overrides)]


@pytest.mark.django_db
def test_dates_sex_and_identifiers():
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    assert candidates() == [(aisha.pk, ("same name", "same date of birth"))]
    # Surname first, in Cyrillic: still her; a date within a month too.
    assert [
        pk for pk, _ in candidates(given_name="Фиктиева", family_name="Айша", date_of_birth=datetime.date(1990, 5, 17))
    ] == [aisha.pk]
    assert [pk for pk, _ in candidates(date_of_birth=datetime.date(1990, 6, 10))] == [aisha.pk]
    # Day and month swapped.
    bella = f.PersonFactory(given_name="Bella", family_name="Samplova", date_of_birth=datetime.date(1992, 3, 11))
    assert [
        pk for pk, _ in candidates(given_name="Bella", family_name="Samplova", date_of_birth=datetime.date(1992, 11, 3))
    ] == [bella.pk]
    # Exact dates a year apart: another person; an estimated one: possibly her.
    assert candidates(date_of_birth=datetime.date(1991, 5, 17)) == []
    assert [pk for pk, _ in candidates(date_of_birth=datetime.date(1991, 5, 17), estimated=True)] == [aisha.pk]
    assert candidates(date_of_birth=datetime.date(1994, 5, 17), estimated=True) == []
    assert candidates(sex=Sex.MALE) == []
    # A recorded spelling counts; a former name never does.
    PersonName.objects.create(person=aisha, full_name="Ayşa Samplova", script=Script.LATIN, kind=NameKind.SPELLING)
    PersonName.objects.create(person=aisha, full_name="Umm Demo", script=Script.LATIN, kind=NameKind.ALIAS)
    assert [pk for pk, _ in candidates(given_name="Aisha", family_name="Samplova")] == [aisha.pk]
    assert candidates(given_name="Umm", family_name="Demo") == []
    # The same identifier makes a candidate whatever the name and date.
    PersonIdentifier.objects.create(person=aisha, kind=IdentifierKind.PASSPORT, value="N 0000 0042")
    found = candidates(given_name="Zeinab", family_name="Demoyeva", identifiers=["n00000042"])
    assert found == [(aisha.pk, ("same identifier",))]
    assert (
        candidates(
            given_name="Zeinab",
            family_name="Demoyeva",
            identifiers=["n00000042"],
            identifiers_among=Person.objects.none(),
        )
        == []
    )
    # Only among the people given.
    assert candidates(among=Person.objects.exclude(pk=aisha.pk)) == []


# --- the admin's add form ---------------------------------------------------------------------


@pytest.fixture
def groups(db):
    role_groups_sync()


def staff_login(client, user):
    user.groups.add(Group.objects.get(name="Caseworkers"))
    return force_login(client, user)


def person_form(given_name, date_of_birth, **overrides):
    data = {
        "given_name": given_name,
        "family_name": "Demoyeva",
        "patronymic": "",
        "sex": "female",
        "date_of_birth": date_of_birth,
        "place_of_birth": "",
        "nationality": "KZ",
        "languages": '["kk"]',
    }
    for prefix in ("names", "identifiers", "family_memberships"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(overrides)
    return data


FAMILY = [("Khadija", "1988-02-03"), ("Mariam", "2012-07-09"), ("Zeinab", "2015-11-30")]


def test_the_same_family_entered_twice_warns_and_confirming_saves(client, groups, caseworker):
    staff_login(client, caseworker)
    add = reverse("admin:casework_person_add")
    # Nothing to confirm before the check has run.
    assert "This is a different person" not in client.get(add).content.decode()
    for given_name, born in FAMILY:
        response = client.post(add, person_form(given_name, born))
        assert response.status_code == 302, response.content.decode()[:3000]

    # The second time, each member is flagged, by birth year and reference, not saved.
    for given_name, born in FAMILY:
        response = client.post(add, person_form(given_name, born))
        assert response.status_code == 200
        page = response.content.decode()
        assert "Possible duplicates already on file" in page
        first = Person.objects.get(given_name=given_name)
        assert f"born {born[:4]}, record {first.pk}: same name, same date of birth" in page
        assert Person.objects.filter(given_name=given_name).count() == 1
    # The form shows the confirmation; confirming saves.
    assert "This is a different person" in page
    response = client.post(add, person_form("Zeinab", "2015-11-30", confirm_different_person="on"))
    assert response.status_code == 302
    assert Person.objects.filter(given_name="Zeinab").count() == 2
    # A different child of the same family is not flagged.
    response = client.post(add, person_form("Aisha", "2015-11-30"))
    assert response.status_code == 302


def test_the_warning_never_names_people_the_user_may_not_see(client, groups, caseworker, other_caseworker):
    hidden = f.PersonFactory(
        given_name="Khadija",
        family_name="Demoyeva",
        date_of_birth=datetime.date(1988, 2, 3),
        created_by=other_caseworker,
    )
    assert not selectors.person_visible_to(caseworker).filter(pk=hidden.pk).exists()
    staff_login(client, caseworker)
    response = client.post(reverse("admin:casework_person_add"), person_form("Khadija", "1988-02-03"))
    assert response.status_code == 302
    assert "Possible duplicates" not in client.get(response.url).content.decode()


def test_pickers_tell_people_of_one_name_apart(client, groups, caseworker, case):
    twin = case.person
    twin.given_name, twin.family_name, twin.date_of_birth = "Khadija", "Demoyeva", datetime.date(1990, 1, 1)
    twin.save()
    staff_login(client, caseworker)
    other = f.PersonFactory(
        given_name="Khadija",
        family_name="Demoyeva",
        date_of_birth=datetime.date(1991, 1, 1),
        date_of_birth_estimated=True,
        created_by=caseworker,
    )
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "casework", "model_name": "case", "field_name": "person", "term": "Khadija"},
    )
    labels = {int(row["id"]): row["text"] for row in json.loads(response.content)["results"]}
    assert labels == {
        twin.pk: f"Khadija Demoyeva (born 1990, case {case.reference})",
        other.pk: f"Khadija Demoyeva (born ~1991, record {other.pk})",
    }


@pytest.mark.django_db
def test_at_most_the_best_few_candidates():
    exact = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    for day in range(1, MAX_CANDIDATES + 3):
        f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, day))
    found = candidates()
    assert len(found) == MAX_CANDIDATES
    assert found[0][0] == exact.pk


# --- found by the matcher's first mutation run (README, "Mutation testing") ----------------------

DAY = datetime.timedelta(days=1)


def scored(**overrides):
    query = {
        "given_name": "Aisha",
        "family_name": "Fiktieva",
        "date_of_birth": datetime.date(1990, 5, 17),
        "estimated": False,
        "sex": Sex.FEMALE,
        "among": Person.objects.all(),
    }
    query.update(overrides)
    return [(person.pk, score, reasons) for person, score, reasons in duplicate_candidates(**query)]


@pytest.mark.django_db
@pytest.mark.parametrize("days, found", [(31, True), (32, False)])
def test_an_exact_date_of_birth_up_to_31_days_away_is_near(days, found):
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    result = candidates(date_of_birth=datetime.date(1990, 5, 17) + days * DAY)
    assert result == ([(aisha.pk, ("same name", "date of birth within a month"))] if found else [])


@pytest.mark.django_db
@pytest.mark.parametrize("days, found", [(731, True), (732, False)])
def test_an_estimated_date_of_birth_up_to_two_years_away_may_be_the_same(days, found):
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    result = candidates(date_of_birth=datetime.date(1990, 5, 17) + days * DAY, estimated=True)
    assert result == ([(aisha.pk, ("same name", "estimated date of birth within two years"))] if found else [])


@pytest.mark.django_db
def test_a_date_estimated_on_file_widens_the_check_as_one_estimated_in_the_entry_does():
    aisha = f.PersonFactory(
        given_name="Aisha",
        family_name="Fiktieva",
        date_of_birth=datetime.date(1990, 1, 1),
        date_of_birth_estimated=True,
    )
    result = candidates(date_of_birth=datetime.date(1991, 3, 17))
    assert result == [(aisha.pk, ("same name", "estimated date of birth within two years"))]


@pytest.mark.django_db
def test_day_and_month_swapped_up_to_the_twelfth_and_no_further():
    bella = f.PersonFactory(given_name="Bella", family_name="Samplova", date_of_birth=datetime.date(1992, 12, 3))
    swapped = candidates(given_name="Bella", family_name="Samplova", date_of_birth=datetime.date(1992, 3, 12))
    assert swapped == [(bella.pk, ("same name", "date of birth within a month"))]
    # A thirteenth cannot be a month: checked as a date, without an error.
    assert candidates(given_name="Bella", family_name="Samplova", date_of_birth=datetime.date(1992, 12, 13)) == [
        (bella.pk, ("same name", "date of birth within a month"))
    ]


@pytest.mark.django_db
def test_a_similar_name_is_called_similar_and_scored_below_one_to_three_decimals():
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    [(pk, score, reasons)] = scored(given_name="Aishat")
    assert (pk, reasons) == (aisha.pk, ("similar name", "same date of birth"))
    assert NAME_THRESHOLD <= score < 1 and score == round(score, 3) and score != round(score, 2)
    [(pk, score, reasons)] = scored(date_of_birth=datetime.date(1990, 6, 1))
    assert (pk, score, reasons) == (aisha.pk, 0.9, ("same name", "date of birth within a month"))


@pytest.mark.django_db
def test_what_a_caseworker_sees_of_a_candidate_beside_the_entry(case, caseworker, other_case):
    """Names in every script but never a former name or an alias, the birth year ("~"
    when estimated), the case and family references; nobody the user may not see."""
    from casework.duplicates import candidates_seen_by
    from casework.models import Case, Family, FamilyMembership

    person = case.person
    Person.objects.filter(pk=person.pk).update(date_of_birth=datetime.date(1990, 5, 17))
    PersonName.objects.create(person=person, full_name="Айша Фиктиева", script=Script.CYRILLIC, kind=NameKind.SPELLING)
    PersonName.objects.create(person=person, full_name="Umm Demo", script=Script.LATIN, kind=NameKind.ALIAS)
    PersonName.objects.create(person=person, full_name="Old Demoname", script=Script.LATIN, kind=NameKind.FORMER)
    family = Family.objects.create(reference="FAM-SEEN-1")
    FamilyMembership.objects.create(family=family, person=person, relationship="head")
    Case.objects.filter(pk=case.pk).update(family=family)
    seen = candidates_seen_by(caseworker, [person.pk, other_case.person_id, None])
    assert set(seen) == {person.pk}
    candidate = seen[person.pk]
    person.refresh_from_db()
    assert candidate.names == [person.full_name, "Айша Фиктиева"]
    assert (candidate.born, candidate.case_reference, candidate.family_reference) == (
        "born 1990",
        case.reference,
        "FAM-SEEN-1",
    )
    Person.objects.filter(pk=person.pk).update(date_of_birth_estimated=True)
    assert candidates_seen_by(caseworker, [person.pk])[person.pk].born == "born ~1990"


@pytest.mark.django_db
def test_an_estimated_match_scores_less_than_a_near_one():
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    assert scored(date_of_birth=datetime.date(1991, 5, 17), estimated=True) == [
        (aisha.pk, 0.8, ("same name", "estimated date of birth within two years"))
    ]


@pytest.mark.django_db
def test_a_candidate_shows_the_latest_case_and_only_a_family_the_user_may_see(case, caseworker, other_case, programme):
    from casework.duplicates import candidates_seen_by
    from casework.models import Case, Family, FamilyMembership

    person = case.person
    hidden = Family.objects.create(reference="FAM-OTHER-PROGRAMME")
    Case.objects.filter(pk=other_case.pk).update(family=hidden)
    FamilyMembership.objects.create(family=hidden, person=person, relationship="other_relative")
    candidate = candidates_seen_by(caseworker, [person.pk])[person.pk]
    assert (candidate.case_reference, candidate.family_reference) == (case.reference, None)


@pytest.mark.django_db
def test_a_person_without_a_case_is_told_apart_by_their_family(administrator):
    from casework.duplicates import distinguishing_details
    from casework.models import Family, FamilyMembership

    person = f.PersonFactory(date_of_birth=datetime.date(2015, 11, 30))
    FamilyMembership.objects.create(
        family=Family.objects.create(reference="FAM-NO-CASE"), person=person, relationship="child"
    )
    alone = f.PersonFactory(date_of_birth=datetime.date(2016, 1, 2))
    assert distinguishing_details([person, alone], user=administrator) == {
        person.pk: "born 2015, family FAM-NO-CASE",
        alone.pk: f"born 2016, record {alone.pk}",
    }


@pytest.mark.django_db
def test_only_the_holder_of_the_same_identifier_is_found_by_it_scored_as_certain():
    aisha = f.PersonFactory(given_name="Aisha", family_name="Fiktieva", date_of_birth=datetime.date(1990, 5, 17))
    other = f.PersonFactory(given_name="Bella", family_name="Samplova", date_of_birth=datetime.date(1992, 3, 11))
    PersonIdentifier.objects.create(person=aisha, kind=IdentifierKind.PASSPORT, value="N 0000 0042")
    PersonIdentifier.objects.create(person=other, kind=IdentifierKind.PASSPORT, value="N 0000 0099")
    found = scored(given_name="Zeinab", family_name="Demoyeva", identifiers=["n00000042", " ", ""])
    assert found == [(aisha.pk, 1.0, ("same identifier",))]


@pytest.mark.django_db
def test_the_candidates_shown_take_as_many_queries_for_three_people_as_for_one(
    caseworker, programme, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from casework.duplicates import candidates_seen_by

    people = []
    for number in range(3):
        case = f.CaseFactory(caseworker=caseworker, reference=f"N-QC-{number}")
        f.enrol(case, programme, by=caseworker)
        PersonName.objects.create(
            person=case.person, full_name=f"Spelling {number}", script=Script.LATIN, kind=NameKind.SPELLING
        )
        people.append(case.person_id)
    candidates_seen_by(caseworker, people[:1])  # the caller's roles, read once
    with CaptureQueriesContext(connection) as one:
        candidates_seen_by(caseworker, people[:1])
    with django_assert_num_queries(len(one)):
        seen = candidates_seen_by(caseworker, people)
    assert [len(seen[pk].names) for pk in people] == [2, 2, 2]
