"""Issue #14 (intake): whatever a caseworker records is theirs to see at once.

A person or family without a case yet is visible to its creator while the creator
works in a programme; once a case refers to it, the case's scope decides.
"""

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from casework import selectors
from casework.models import Family, Person
from core.roles import role_groups_sync
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


def staff_login(client, user):
    user.groups.add(Group.objects.get(name="Caseworkers"))
    return force_login(client, user)


def person_form(**overrides):
    data = {
        "given_name": "Aisha",
        "family_name": "Fiktieva",
        "patronymic": "",
        "sex": "female",
        "date_of_birth": "2014-03-02",
        "place_of_birth": "",
        "nationality": "KZ",
        "languages": '["kk"]',
    }
    for prefix in ("names", "identifiers", "family_memberships"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(overrides)
    return data


def case_person_autocomplete(client, term, *, model_name="case"):
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "casework", "model_name": model_name, "field_name": "person", "term": term},
    )
    assert response.status_code == 200, response.content[:500]
    return [int(row["id"]) for row in json.loads(response.content)["results"]]


def test_caseworker_finds_the_person_they_just_added(client, caseworker, other_caseworker):
    staff_login(client, caseworker)
    response = client.post(reverse("admin:casework_person_add"), person_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    person = Person.objects.get(family_name="Fiktieva")
    assert person.created_by == caseworker

    listing = client.get(reverse("admin:casework_person_changelist")).content.decode()
    assert "Aisha Fiktieva" in listing
    assert "0 persons" not in listing
    # The case form's person search finds them, in either script and name order.
    assert case_person_autocomplete(client, "Fiktieva") == [person.pk]
    assert case_person_autocomplete(client, "Фиктиева Айша") == [person.pk]
    # And so does the family form's member search.
    assert case_person_autocomplete(client, "Aisha", model_name="familymembership") == [person.pk]

    # Another programme's caseworker sees nothing of them.
    client.logout()
    staff_login(client, other_caseworker)
    assert "Aisha Fiktieva" not in client.get(reverse("admin:casework_person_changelist")).content.decode()
    assert case_person_autocomplete(client, "Fiktieva") == []
    assert client.get(reverse("admin:casework_person_change", args=[person.pk])).status_code == 302


def test_caseworker_finds_the_family_they_just_added(client, caseworker, other_caseworker):
    staff_login(client, caseworker)
    data = {
        "reference": "FAM-DEMO-1",
        "label": "Demoyeva household",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "receiving_relatives-TOTAL_FORMS": "0",
        "receiving_relatives-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:casework_family_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    family = Family.objects.get(reference="FAM-DEMO-1")
    assert family.created_by == caseworker
    assert "Demoyeva household" in client.get(reverse("admin:casework_family_changelist")).content.decode()
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "casework", "model_name": "case", "field_name": "family", "term": "Demoyeva"},
    )
    assert [int(row["id"]) for row in json.loads(response.content)["results"]] == [family.pk]

    client.logout()
    staff_login(client, other_caseworker)
    assert "Demoyeva household" not in client.get(reverse("admin:casework_family_changelist")).content.decode()


def test_once_a_case_exists_its_scope_decides(caseworker, other_caseworker, other_programme):
    person = f.PersonFactory(given_name="Samplova", created_by=caseworker)
    family = Family.objects.create(reference="FAM-DEMO-2", created_by=caseworker)
    assert person in selectors.person_visible_to(caseworker)
    assert family in selectors.family_visible_to(caseworker)
    case = f.CaseFactory(person=person, family=family, caseworker=other_caseworker)
    f.enrol(case, other_programme, by=other_caseworker)
    assert person not in selectors.person_visible_to(caseworker)
    assert family not in selectors.family_visible_to(caseworker)
    assert person in selectors.person_visible_to(other_caseworker)


def test_creator_without_a_programme_role_sees_nothing(db):
    former = f.UserFactory(username="former-caseworker")
    person = f.PersonFactory(created_by=former)
    assert not selectors.person_visible_to(former).filter(pk=person.pk).exists()
    assert not selectors.family_visible_to(former).exists()


def test_visibility_stays_one_query(caseworker, django_assert_num_queries):
    f.PersonFactory(created_by=caseworker)
    visible = selectors.person_visible_to(caseworker)
    with django_assert_num_queries(1):
        assert len(list(visible)) == 1


def test_the_creator_sees_the_identifiers_they_typed_until_a_case_decides(programme, caseworker, other_caseworker):
    """A person recorded without a case yet: their recorder sees the identifiers and
    spellings typed on the add form; nobody else in another programme does."""
    from casework.models import PersonIdentifier
    from casework.selectors import may_see_sensitive_person

    person = f.PersonFactory(created_by=caseworker)
    PersonIdentifier.objects.create(person=person, kind="passport", value="ID-CREATOR-TEST", issuing_country="KZ")
    assert may_see_sensitive_person(caseworker, person)
    assert not may_see_sensitive_person(other_caseworker, person)
