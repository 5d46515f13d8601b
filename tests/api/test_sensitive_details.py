"""Former names, aliases, identifiers and legal status reach, through the API, exactly
the staff that ``casework.selectors`` lets see them, as in the admin: the case's own
caseworker, the programme's supervisors and administrators; not every caseworker of
the programme."""

from __future__ import annotations

import pytest
from django.urls import reverse
from knox.models import AuthToken

from casework.models import PersonIdentifier, PersonName
from casework.selectors import may_see_sensitive_case, may_see_sensitive_person
from programmes.models import ProgrammeMembershipRole
from tests import factories as f
from tests.api.conftest import ALIAS_NAME, FORMER_NAME, IDENTIFIER

pytestmark = pytest.mark.django_db

RELATIVE_FORMER_NAME = "Relativeformer Sentinelova"
RELATIVE_IDENTIFIER = "ID-SENTINEL-RELATIVE"
SENSITIVE_PERSON_FIELDS = ("former_names", "identifiers")


@pytest.fixture
def doors(world):
    """The world, a relative with sensitive details of their own (and no case), and a
    colleague: a caseworker of the programme who is not the case's caseworker."""
    PersonName.objects.create(person=world.relative, full_name=RELATIVE_FORMER_NAME, script="latin", kind="former")
    PersonIdentifier.objects.create(
        person=world.relative, kind="passport", value=RELATIVE_IDENTIFIER, issuing_country="KZ"
    )
    colleague = f.add_member(
        world.programme, f.UserFactory(username="caseworker-colleague"), ProgrammeMembershipRole.CASEWORKER
    )
    world.users["colleague"] = colleague
    world.tokens["colleague"] = AuthToken.objects.create(colleague)[1]
    return world


def person_answers(world, actor, person) -> list[dict]:
    """Every representation of the person the API gives the actor."""
    client = world.client(actor)
    answers = [client.get(reverse("person-detail", kwargs={"pk": person.pk})).json()]
    for route in ("person-list", "person-changes"):
        answers += [row for row in client.get(reverse(route)).json()["results"] if row["id"] == person.pk]
    search = client.post(reverse("person-search"), {"name": person.given_name}, format="json").json()
    answers += [row for row in search["results"] if row["id"] == person.pk]
    for route in ("case-list", "case-changes"):
        answers += [
            row["person"] for row in client.get(reverse(route)).json()["results"] if row["person"]["id"] == person.pk
        ]
    return answers


def case_answers(world, actor, case) -> list[dict]:
    client = world.client(actor)
    answers = [client.get(reverse("case-detail", kwargs={"pk": case.pk})).json()]
    for route in ("case-list", "case-changes"):
        answers += [row for row in client.get(reverse(route)).json()["results"] if row["id"] == case.pk]
    return answers


def test_sensitive_fields_same_answer_through_every_door(doors):
    world = doors
    expected = {
        # actor: may see the sensitive details of the case and its family
        "colleague": False,
        "caseworker": True,
        "supervisor": True,
        "administrator": True,
    }
    for actor, sees in expected.items():
        user = world.users[actor]
        # The rule itself, so the test checks the doors against it and not against itself.
        assert may_see_sensitive_person(user, world.person) is sees, actor
        assert may_see_sensitive_person(user, world.relative) is sees, actor
        assert may_see_sensitive_case(user, world.case) is sees, actor

        for person, sensitive_values in (
            (world.person, (FORMER_NAME, ALIAS_NAME, IDENTIFIER)),
            (world.relative, (RELATIVE_FORMER_NAME, RELATIVE_IDENTIFIER)),
        ):
            answers = person_answers(world, actor, person)
            # Detail, list, feed, search (and for the case's person, the cases' nested person).
            assert len(answers) >= (6 if person == world.person else 4), (actor, person.pk, len(answers))
            for answer in answers:
                assert all((key in answer) is sees for key in SENSITIVE_PERSON_FIELDS), (actor, person.pk, answer)
                text = str(answer)
                assert all((value in text) is sees for value in sensitive_values), (actor, person.pk, answer)
                # Current names reach every member of staff who sees the person.
                assert person.given_name in text

        answers = case_answers(world, actor, world.case)
        assert len(answers) == 3, actor
        for answer in answers:
            assert ("legal_status" in answer) is sees, (actor, answer)
            assert ("legal_status" in answer["person"]) is False

        family = world.client(actor).get(reverse("family-detail", kwargs={"pk": world.family.pk})).json()
        text = str(family)
        assert {member["person"] for member in family["members"]} == {world.person.pk, world.relative.pk}
        assert not any(value in text for value in (FORMER_NAME, ALIAS_NAME, IDENTIFIER, RELATIVE_FORMER_NAME))


def test_colleague_cannot_find_a_person_by_former_name(doors):
    url = reverse("person-search")
    for name in (FORMER_NAME, ALIAS_NAME, RELATIVE_FORMER_NAME):
        assert doors.client("colleague").post(url, {"name": name}, format="json").json()["count"] == 0
        assert doors.client("caseworker").post(url, {"name": name}, format="json").json()["count"] == 1


def test_colleague_still_sees_the_case_and_current_names(doors):
    client = doors.client("colleague")
    person = client.get(reverse("person-detail", kwargs={"pk": doors.person.pk})).json()
    assert {name["full_name"] for name in person["names"]} == {"Testgiven Samplova", "Тестгивен Сэмплова"}
    case = client.get(reverse("case-detail", kwargs={"pk": doors.case.pk})).json()
    assert case["risk_level"] == doors.case.risk_level and case["person"]["id"] == doors.person.pk


def test_sensitive_fields_same_answer_in_the_admin_as_in_the_api(doors):
    """The admin's case page, person pages and search give each actor what the API gives."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from core.roles import role_groups_sync
    from tests.conftest import force_login

    role_groups_sync()
    world = doors
    for actor in ("colleague", "caseworker", "supervisor", "administrator"):
        user = world.users[actor]
        sees = may_see_sensitive_person(user, world.person)
        user.groups.add(Group.objects.get(name="Supervisors" if actor == "supervisor" else "Caseworkers"))
        client = force_login(Client(), user)
        case_page = client.get(reverse("admin:casework_case_change", args=[world.case.pk])).content.decode()
        assert (ALIAS_NAME in case_page) is sees, actor
        person_page = client.get(reverse("admin:casework_person_change", args=[world.person.pk])).content.decode()
        assert all((value in person_page) is sees for value in (FORMER_NAME, ALIAS_NAME)), actor
        relative_page = client.get(reverse("admin:casework_person_change", args=[world.relative.pk])).content.decode()
        assert (RELATIVE_FORMER_NAME in relative_page) is may_see_sensitive_person(user, world.relative), actor
        found = client.get(reverse("admin:casework_case_changelist"), {"mine": "all", "q": ALIAS_NAME})
        assert (world.case.reference in found.content.decode()) is sees, actor
        api = [str(answer) for answer in person_answers(world, actor, world.person)]
        assert all((ALIAS_NAME in answer) is sees for answer in api), actor
