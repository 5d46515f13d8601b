"""Issue #14: an arriving family registered in one step (lifecycle.intake), and the
admin's "Register arrivals" page. Names are fictional."""

from __future__ import annotations

import datetime
import json

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from casework import selectors
from casework.models import Case, CaseNote, DistinctPersonPair, Family, Person, PersonName, ReceivingRelative
from core.errors import NotVisible
from core.roles import role_groups_sync
from lifecycle.intake import Household, MemberInput, PossibleDuplicates, arrivals_register, script_of
from programmes.models import Enrolment, StageRecord
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


@pytest.fixture
def operation(db):
    return f.OperationFactory(code="op-test-1", name="Test operation (fictional)")


def mother(**overrides):
    values = dict(
        given_name="Zarina",
        family_name="Testova",
        sex="female",
        relationship="head",
        date_of_birth=datetime.date(1993, 4, 12),
        other_spellings=["Зарина Тестова", "زارينا تيستوفا"],
        nationality="KZ",
        languages=["kk", "ru"],
    )
    values.update(overrides)
    return MemberInput(**values)


def child(given_name, age, sex="female", **overrides):
    return MemberInput(
        given_name=given_name, family_name="Testova", sex=sex, relationship="child", age=age, **overrides
    )


def household(programme, operation, members=None, **overrides):
    values = dict(
        programme=programme,
        operation=operation,
        arrival_date=programme.local_today() - datetime.timedelta(days=2),
        members=members
        if members is not None
        else [mother(), child("Amina", 2), child("Timur", 7, sex="male"), child("Leyla", 15)],
        relative_name="Gulnara Testova (fictional)",
        relative_phone="+7 700 000 00 00",
        relative_address="1 Sample street, Demo town",
    )
    values.update(overrides)
    return Household(**values)


# --- The service -------------------------------------------------------------------------


def test_registers_people_family_cases_and_enrolments_in_one_step(programme, operation, caseworker):
    registration = arrivals_register(household=household(programme, operation), by=caseworker)

    assert len(registration.cases) == 4
    year = programme.local_today().year
    assert [case.reference for case in registration.cases] == [f"NORTH-{year}-{n:04d}" for n in (1, 2, 3, 4)]
    head_case = registration.cases[0]
    assert head_case.person.given_name == "Zarina"
    assert {case.caseworker for case in registration.cases} == {caseworker}
    assert {case.operation for case in registration.cases} == {operation}
    family = registration.family
    assert family.memberships.count() == 4
    assert family.memberships.filter(relationship="head").get().person == head_case.person
    spellings = dict(PersonName.objects.filter(person=head_case.person).values_list("full_name", "script"))
    assert spellings == {"Зарина Тестова": "cyrillic", "زارينا تيستوفا": "arabic"}
    timur = Person.objects.get(given_name="Timur")
    assert timur.date_of_birth_estimated and timur.age_on(programme.local_today()) == 7
    assert head_case.person.languages == ["kk", "ru"] and head_case.person.nationality == "KZ"
    # Each case enrolled with its stage plan (school for the 7- and 15-year-olds, preschool for the 2-year-old).
    for case in registration.cases:
        enrolment = Enrolment.objects.get(case=case, programme=programme)
        assert enrolment.stages.exists()
    kinds = [
        set(StageRecord.objects.filter(enrolment__case=case).values_list("stage_type__code", flat=True))
        for case in registration.cases
    ]
    assert kinds[0] != kinds[1] != kinds[2]  # adult, preschool, school
    # The receiving relative: one record of the family, its contact details encrypted at rest.
    assert not CaseNote.objects.filter(case=head_case).exists()
    relative = ReceivingRelative.objects.get(family=family)
    assert (relative.name, relative.phone, relative.address, relative.relationship) == (
        "Gulnara Testova (fictional)",
        "+7 700 000 00 00",
        "1 Sample street, Demo town",
        "other_relative",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, phone, address FROM casework_receivingrelative WHERE id = %s", [relative.pk])
        stored = cursor.fetchone()
    assert not any("Gulnara" in value or "700" in value or "Sample" in value for value in stored)


def test_interpreter_need_is_recorded_on_the_person(programme, operation, caseworker):
    members = [mother(), child("Amina", 6, languages=["ar"], interpreter_language="ar")]
    registration = arrivals_register(household=household(programme, operation, members=members), by=caseworker)
    amina = registration.person_of(1)
    assert amina.interpreter_needed and amina.interpreter_language == "ar"
    assert not registration.person_of(0).interpreter_needed
    with pytest.raises(ValidationError) as refused:
        arrivals_register(
            household=household(programme, operation, members=[mother(interpreter_language="xx")]), by=caseworker
        )
    assert "members.0.interpreter_language" in refused.value.message_dict


def test_a_relative_phone_without_a_name_is_refused(programme, operation, caseworker):
    with pytest.raises(ValidationError) as refused:
        arrivals_register(household=household(programme, operation, relative_name=""), by=caseworker)
    assert "relative_name" in refused.value.message_dict
    assert not Family.objects.exists()


def test_the_creator_sees_everything_at_once_and_another_programme_nothing(
    programme, operation, caseworker, other_caseworker
):
    registration = arrivals_register(household=household(programme, operation), by=caseworker)
    case_ids = {case.pk for case in registration.cases}
    person_ids = {person.pk for person in registration.persons}
    assert set(selectors.case_visible_to(caseworker).values_list("pk", flat=True)) >= case_ids
    assert set(selectors.person_visible_to(caseworker).values_list("pk", flat=True)) >= person_ids
    assert selectors.family_visible_to(caseworker).filter(pk=registration.family.pk).exists()
    assert not selectors.case_visible_to(other_caseworker).filter(pk__in=case_ids).exists()
    assert not selectors.person_visible_to(other_caseworker).filter(pk__in=person_ids).exists()
    assert not selectors.family_visible_to(other_caseworker).filter(pk=registration.family.pk).exists()


def test_references_continue_and_stay_unique(programme, operation, caseworker):
    year = programme.local_today().year
    f.CaseFactory(reference=f"NORTH-{year}-0041")
    first = arrivals_register(household=household(programme, operation, members=[mother()]), by=caseworker)
    second = arrivals_register(
        household=household(programme, operation, members=[mother(given_name="Madina", date_of_birth=None, age=30)]),
        by=caseworker,
    )
    assert first.cases[0].reference == f"NORTH-{year}-0042"
    assert second.cases[0].reference == f"NORTH-{year}-0043"
    assert first.family.reference != second.family.reference


def test_a_failing_member_leaves_nothing(programme, operation, caseworker):
    counts = (Person.objects.count(), Case.objects.count(), Family.objects.count())
    bad = household(programme, operation, members=[mother(), child("Amina", 2), child("Timur", 200)])
    with pytest.raises(ValidationError) as raised:
        arrivals_register(household=bad, by=caseworker)
    assert "members.2.age" in raised.value.message_dict
    for members in (
        [mother(), child("Bad\u202ename", 3)],  # a bidi override
        [mother(nationality="XX")],
        [mother(languages=["zz"])],
        [mother(relationship="child")],  # no head
        [mother(), child("Amina", 2, date_of_birth=datetime.date(2020, 1, 1))],  # both date and age
    ):
        with pytest.raises(ValidationError):
            arrivals_register(household=household(programme, operation, members=members), by=caseworker)
    assert (Person.objects.count(), Case.objects.count(), Family.objects.count()) == counts


def test_a_failure_while_writing_rolls_everything_back(programme, operation, caseworker, monkeypatch):
    from lifecycle import intake

    def failing_enrolments(**kwargs):
        # The enrolments and stage plans are written, then something refuses.
        intake_enrolments(**kwargs)
        assert Enrolment.objects.exists()
        raise ValidationError("refused (test)")

    intake_enrolments = intake.enrolments_write
    monkeypatch.setattr(intake, "enrolments_write", failing_enrolments)
    with pytest.raises(ValidationError):
        arrivals_register(household=household(programme, operation), by=caseworker)
    assert not Person.objects.exists() and not Case.objects.exists() and not Enrolment.objects.exists()


def test_duplicates_on_file_stop_the_save_with_candidates_then_same_links(programme, operation, caseworker):
    on_file = arrivals_register(household=household(programme, operation, members=[mother()]), by=caseworker)
    existing = on_file.persons[0]
    # The same woman, typed in Cyrillic, arriving with a child.
    again = household(
        programme,
        operation,
        members=[mother(given_name="Зарина", family_name="Тестова", other_spellings=[]), child("Amina", 2)],
    )
    # Her open case must be closed before she can be registered again: link her relative instead.
    Case.objects.filter(person=existing).update(status="closed", closed_on=programme.local_today())
    before = Person.objects.count()
    with pytest.raises(PossibleDuplicates) as raised:
        arrivals_register(household=again, by=caseworker)
    assert list(raised.value.candidates) == [0]
    [candidate] = raised.value.candidates[0]
    assert candidate.person_id == existing.pk and candidate.score > 0.8
    assert Person.objects.count() == before

    registration = arrivals_register(household=again, by=caseworker, decisions={0: f"same:{existing.pk}"})
    assert registration.cases[0].person == existing
    assert Person.objects.count() == before + 1  # only the child is new


def test_different_records_the_pair_and_is_not_asked_again(programme, operation, caseworker):
    first = arrivals_register(household=household(programme, operation, members=[mother()]), by=caseworker)
    namesake = household(programme, operation, members=[mother(other_spellings=[])])
    with pytest.raises(PossibleDuplicates):
        arrivals_register(household=namesake, by=caseworker)
    second = arrivals_register(household=namesake, by=caseworker, decisions={0: "different"})
    a, b = sorted((first.persons[0].pk, second.persons[0].pk))
    pair = DistinctPersonPair.objects.get()
    assert (pair.person_a_id, pair.person_b_id, pair.decided_by) == (a, b, caseworker)
    # A third registration of the same description is asked about one of them only:
    # the two on file were already told apart.
    with pytest.raises(PossibleDuplicates) as raised:
        arrivals_register(household=namesake, by=caseworker)
    assert len(raised.value.candidates[0]) == 1


def test_a_person_typed_twice_in_one_submission_is_flagged(programme, operation, caseworker):
    twice = household(programme, operation, members=[mother(), mother(relationship="sibling", other_spellings=[])])
    with pytest.raises(PossibleDuplicates) as raised:
        arrivals_register(household=twice, by=caseworker)
    assert raised.value.candidates[1][0].member == 0
    assert not Person.objects.exists()


def test_candidates_are_only_people_the_user_may_see(
    programme, operation, caseworker, other_caseworker, other_programme
):
    arrivals_register(household=household(other_programme, operation, members=[mother()]), by=other_caseworker)
    registration = arrivals_register(household=household(programme, operation, members=[mother()]), by=caseworker)
    assert registration.cases  # no candidate: the other programme's namesake is not shown


def test_programme_and_people_of_another_programme_are_refused(
    programme, other_programme, operation, caseworker, other_caseworker
):
    with pytest.raises(NotVisible):
        arrivals_register(household=household(other_programme, operation), by=caseworker)
    theirs = arrivals_register(household=household(other_programme, operation, members=[mother()]), by=other_caseworker)
    with pytest.raises(ValidationError):
        arrivals_register(
            household=household(programme, operation, members=[mother()]),
            by=caseworker,
            decisions={0: f"same:{theirs.persons[0].pk}"},
        )
    assert not Case.objects.filter(enrolments__programme=programme).exists()


def test_script_of_a_spelling():
    assert script_of("Зарина") == "cyrillic"
    assert script_of("زارينا") == "arabic"
    assert script_of("Zarina") == "latin"


# --- The admin page --------------------------------------------------------------------------


def staff_login(client, user):
    user.groups.add(Group.objects.get(name="Caseworkers"))
    return force_login(client, user)


def page_data(programme, operation, rows, **overrides):
    data = {
        "operation": str(operation.pk),
        "programme": str(programme.pk),
        "arrival_date": (programme.local_today() - datetime.timedelta(days=1)).isoformat(),
        "relative_name": "Gulnara Testova (fictional)",
        "relative_phone": "+7 700 000 00 00",
        "relative_address": "1 Sample street, Demo town",
        "members-TOTAL_FORMS": str(len(rows) + 1),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "1",
        "members-MAX_NUM_FORMS": "20",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"members-{index}-{key}"] = value
    data.update(overrides)
    return data


FAMILY_OF_FOUR = [
    {
        "given_name": "Zarina",
        "family_name": "Testova",
        "other_spellings": "Зарина Тестова\r\nزارينا تيستوفا",
        "sex": "female",
        "date_of_birth": "1993-04-12",
        "relationship": "head",
        "nationality": "KZ",
        "languages": ["kk", "ru"],
    },
    {"given_name": "Amina", "family_name": "Testova", "sex": "female", "age": "2", "relationship": "child"},
    {"given_name": "Timur", "family_name": "Testova", "sex": "male", "age": "7", "relationship": "child"},
    {"given_name": "Leyla", "family_name": "Testova", "sex": "female", "age": "15", "relationship": "child"},
]


def test_the_page_is_on_the_index_and_registers_a_family_of_four(client, programme, operation, caseworker):
    staff_login(client, caseworker)
    url = reverse("admin:casework_arrival_add")
    assert url in client.get(reverse("admin:index")).content.decode()
    page = client.get(url)
    assert page.status_code == 200
    assert "Register arrivals" in page.content.decode()

    response = client.post(url, page_data(programme, operation, FAMILY_OF_FOUR))
    assert response.status_code == 302, response.content.decode()[:3000]
    head_case = Case.objects.get(person__given_name="Zarina")
    assert response["Location"] == reverse("admin:casework_case_change", args=[head_case.pk])
    case_page = client.get(response["Location"])
    assert case_page.status_code == 200
    body = case_page.content.decode()
    assert 'id="stages"' in body and "data-stage=" in body
    assert Case.objects.count() == 4


def test_the_page_shows_candidates_and_takes_a_decision(client, programme, operation, caseworker):
    arrivals_register(household=household(programme, operation, members=[mother()]), by=caseworker)
    staff_login(client, caseworker)
    url = reverse("admin:casework_arrival_add")
    data = page_data(programme, operation, FAMILY_OF_FOUR[:2])
    response = client.post(url, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "may already be on file" in body and 'name="members-0-decision"' in body
    assert "Зарина Тестова" in body  # the candidate's names in every script
    assert Person.objects.count() == 1
    response = client.post(url, {**data, "members-0-decision": "different"})
    assert response.status_code == 302
    assert Person.objects.count() == 3 and DistinctPersonPair.objects.count() == 1


def test_a_forged_programme_is_refused(client, programme, other_programme, operation, caseworker):
    staff_login(client, caseworker)
    response = client.post(reverse("admin:casework_arrival_add"), page_data(other_programme, operation, FAMILY_OF_FOUR))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Case.objects.exists() and not Person.objects.exists()


def test_bad_input_is_a_form_error_never_a_500(client, programme, operation, caseworker):
    staff_login(client, caseworker)
    url = reverse("admin:casework_arrival_add")
    rows = [{**FAMILY_OF_FOUR[0], "age": "abc", "nationality": "XX", "languages": ["zz"]}]
    response = client.post(url, page_data(programme, operation, rows, arrival_date="not a date"))
    assert response.status_code == 200
    assert not Person.objects.exists()
    response = client.post(url, {"members-TOTAL_FORMS": "x"})
    assert response.status_code == 200


def test_a_partner_cannot_open_the_page(client, partner):
    force_login(client, partner)
    response = client.get(reverse("admin:casework_arrival_add"))
    assert response.status_code in (302, 403)


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_references(programme, operation, caseworker):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    barrier = threading.Barrier(3)
    outcomes = []

    def register(given_name):
        try:
            barrier.wait()
            members = [mother(given_name=given_name, other_spellings=[]), child(f"{given_name}child", 4)]
            outcomes.append(
                arrivals_register(household=household(programme, operation, members=members), by=caseworker)
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register, args=(name,)) for name in ("Alfiya", "Bibigul", "Kamila")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 3
    year = programme.local_today().year
    references = sorted(Case.objects.values_list("reference", flat=True))
    assert references == [f"NORTH-{year}-{n:04d}" for n in range(1, 7)]


def test_every_row_registered_is_in_the_audit_trail_without_names(programme, operation, caseworker):
    from django.contrib.contenttypes.models import ContentType

    from auditlog.diff import model_instance_diff

    from audit.models import AuditEntry
    from casework.models import FamilyMembership

    registration = arrivals_register(household=household(programme, operation), by=caseworker)

    def created(model, pk):
        return AuditEntry.objects.get(
            content_type=ContentType.objects.get_for_model(model), object_id=pk, action=AuditEntry.Action.CREATE
        )

    mother_record = registration.persons[0]
    entry = created(Person, mother_record.pk)
    assert entry.actor == caseworker and entry.persons == f"|{mother_record.pk}|"
    # Names are withheld, a date of birth keeps its year only.
    assert entry.changes["given_name"][1] == "[withheld]" and "Zarina" not in str(entry.changes)
    assert entry.changes["date_of_birth"][1] == "1993-[withheld]"
    # What django-auditlog itself records when a row is saved.
    assert entry.changes == json.loads(json.dumps(model_instance_diff(None, mother_record)))
    family = registration.family
    assert created(Family, family.pk).changes == json.loads(json.dumps(model_instance_diff(None, family)))
    for spelling in PersonName.objects.filter(person=mother_record):
        assert created(PersonName, spelling.pk).persons == f"|{mother_record.pk}|"
    family_entry = created(Family, registration.family.pk)
    assert family_entry.persons == "|" + "|".join(str(p) for p in sorted(p.pk for p in registration.persons)) + "|"
    for case in registration.cases:
        assert created(Case, case.pk).object_repr == f"case {case.reference}"
        enrolment = Enrolment.objects.get(case=case)
        assert created(Enrolment, enrolment.pk).persons == f"|{case.person_id}|"
    for membership in FamilyMembership.objects.filter(family=registration.family):
        assert created(FamilyMembership, membership.pk).actor == caseworker
    # The receiving relative: its name, phone and address withheld, filed under the family's people.
    relative = ReceivingRelative.objects.get(family=registration.family)
    relative_entry = created(ReceivingRelative, relative.pk)
    assert relative_entry.actor == caseworker and relative_entry.persons == family_entry.persons
    assert "Gulnara" not in str(relative_entry.changes) and "700 000" not in str(relative_entry.changes)
    # Four people, two spellings, the family, its receiving relative, four memberships, four
    # cases, four enrolments.
    assert AuditEntry.objects.filter(actor=caseworker, action=AuditEntry.Action.CREATE).count() == 4 + 2 + 1 + 1 + 4 * 3
