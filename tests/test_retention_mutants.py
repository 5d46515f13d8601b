"""Retention as an administrator reads its results: every free-text field of an
expired case and its people replaced by the marker (and nothing else changed), the
step named when a table refuses the change, the edges of the retention period, and
what is due per programme. Written from the survivors of mutation testing
(`make mutation MODULES=retention`)."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from casework.models import (
    Case,
    CaseNote,
    CaseStatusChange,
    ClosureRequest,
    Consent,
    Family,
    Person,
    PersonIdentifier,
    PersonName,
    ReceivingRelative,
    Referral,
    RetentionRun,
)
from justice.models import CourtHearing, LegalProceeding
from lifecycle import closure, retention
from lifecycle.models import TransferRequest
from programmes.models import (
    DocumentRequest,
    FollowUp,
    HousingPlacement,
    PsychologicalSession,
    RelativeContact,
    StageRecord,
    StageTransition,
)
from tests import factories as f
from tests.test_retention_real_data import RETENTION_DAYS, Household, legacy_admin_log, stage

pytestmark = pytest.mark.django_db

MARK = "[anonymised]"  # the marker as a reader sees it, not the module's constant


def extras(household, *, other_programme, caseworker):
    """What the real workflow of the household leaves out: a legal proceeding with a
    hearing, a relative approached for the housing stage, a transfer asked and refused,
    a receiving relative, status changes with and without a note, a contact number."""
    tag = household.tag
    mother_case = household.cases[0]
    proceeding = LegalProceeding.objects.create(
        case=mother_case,
        opened_on=household.arrival,
        authority=f"Investigator Qorvath {tag} (test)",
        detention_place=f"Facility Wendrell {tag} (test)",
        representative=f"Counsel Plimova {tag} (test)",
        reporting_duty=f"Weekly to the Ozzel office {tag} (test)",
        charges=f"Charges against Zarinqa{tag} (test)",
    )
    CourtHearing.objects.create(
        proceeding=proceeding, held_on=household.arrival, court="City court (test)", notes=f"Heard {tag} (test)"
    )
    RelativeContact.objects.create(
        stage=stage(mother_case, "housing"),
        relative_name=f"Ornelqa{tag} Qwertova{tag}",
        relationship="grandparent",
        method="phone",
        contacted_on=household.arrival,
        reason=f"Will take them in at Ozzel {tag} (test)",
    )
    TransferRequest.objects.create(
        case=mother_case,
        from_programme=mother_case.enrolments.get().programme,
        to_programme=other_programme,
        requested_by=caseworker,
        reason=f"Moving to her sister {tag} (test)",
        comment=f"Not yet, Zarinqa{tag} (test)",
        status="refused",
        decided_by=caseworker,
        decided_at=timezone.now(),
    )
    ReceivingRelative.objects.create(
        family=household.family, name=f"Ornelqa{tag} Qwertova{tag}", phone="+7 700 000 0000", address="Ozzel (test)"
    )
    CaseStatusChange.objects.create(
        case=mother_case, from_status="open", to_status="open", by=caseworker, note=f"Spoke to {tag} (test)"
    )
    CaseStatusChange.objects.create(case=mother_case, from_status="open", to_status="open", by=caseworker, note="")
    earlier = Referral.objects.get(case=household.cases[1])
    earlier.pk, earlier.note, earlier.status = None, "", "withdrawn"  # an empty note stays empty
    earlier.save()
    Person.objects.filter(pk=household.mother.pk).update(phone="+7 700 111 2233", patronymic=f"Yxbekovna{tag}")
    return proceeding


@pytest.fixture
def households(programme, other_programme, caseworker, supervisor, agency):
    programme.retention_days = RETENTION_DAYS
    programme.save()
    expired = Household(programme=programme, caseworker=caseworker, supervisor=supervisor, agency=agency, tag="A")
    kept = Household(programme=programme, caseworker=caseworker, supervisor=supervisor, agency=agency, tag="B")
    for household in (expired, kept):
        extras(household, other_programme=other_programme, caseworker=caseworker)
    # The second household came back for support: everything of it stays as it is.
    for case in kept.cases:
        closure.case_reopen(case_id=case.pk, by=caseworker, reason="Back for support (test)")
    return expired, kept


def free_text(household) -> dict[str, set]:
    """Every value of every free-text field retention touches, for one household."""
    cases = household.cases
    stages = StageRecord.objects.filter(enrolment__case__in=cases)
    proceedings = LegalProceeding.objects.filter(case__in=cases)
    person_ids = [person.pk for person in household.people]
    values = {
        "note": CaseNote.objects.filter(case__in=cases).values_list("body", flat=True),
        "closure reason": ClosureRequest.objects.filter(case__in=cases).values_list("reason", flat=True),
        "closure comment": ClosureRequest.objects.filter(case__in=cases).values_list("comment", flat=True),
        "status change": CaseStatusChange.objects.filter(case__in=cases).values_list("note", flat=True),
        "transfer reason": TransferRequest.objects.filter(case__in=cases).values_list("reason", flat=True),
        "transfer comment": TransferRequest.objects.filter(case__in=cases).values_list("comment", flat=True),
        "referral": Referral.objects.filter(case__in=cases).values_list("note", flat=True),
        "outcome": stages.values_list("outcome", flat=True),
        "status reason": stages.values_list("status_reason", flat=True),
        "transition": StageTransition.objects.filter(stage__in=stages).values_list("note", flat=True),
        "follow-up": FollowUp.objects.filter(stage__in=stages).values_list("outcome", flat=True),
        "document number": DocumentRequest.objects.filter(stage__in=stages).values_list("number", flat=True),
        "document note": DocumentRequest.objects.filter(stage__in=stages).values_list("note", flat=True),
        "address": HousingPlacement.objects.filter(stage__in=stages).values_list("address", flat=True),
        "practitioner": PsychologicalSession.objects.filter(stage__in=stages).values_list("practitioner", flat=True),
        "relative": [c.relative_name for c in RelativeContact.objects.filter(stage__in=stages)],
        "relative reason": RelativeContact.objects.filter(stage__in=stages).values_list("reason", flat=True),
        "authority": proceedings.values_list("authority", flat=True),
        "detention place": proceedings.values_list("detention_place", flat=True),
        "representative": proceedings.values_list("representative", flat=True),
        "reporting duty": proceedings.values_list("reporting_duty", flat=True),
        "charges": [p.charges for p in proceedings],
        "hearing": [h.notes for h in CourtHearing.objects.filter(proceeding__in=proceedings)],
        "guardian": Consent.objects.filter(person_id__in=person_ids).values_list("guardian_name", flat=True),
    }
    return {kind: set(found) for kind, found in values.items()}


def test_every_free_text_field_of_an_expired_case_becomes_the_marker_and_empty_stays_empty(households):
    expired, kept = households
    before, kept_before = free_text(expired), free_text(kept)
    # The household has text (and empty values) in every one of them.
    assert all(values - {""} for values in before.values()), [k for k, v in before.items() if not v - {""}]
    empty = {kind for kind, values in before.items() if "" in values}
    assert {"status change", "referral", "status reason", "transition", "follow-up"} <= empty

    result = retention.retention_apply(today=expired.retention_day)

    assert sorted(result.case_ids) == sorted(case.pk for case in expired.cases) and result.failures == []
    after = free_text(expired)
    for kind, values in after.items():
        if kind in {"document number", "practitioner"}:  # emptied, not marked
            assert values == {""}, (kind, values)
        else:
            assert values - {""} == {MARK} and ("" in values) == (kind in empty), (kind, values)
    # The household that came back keeps every word.
    assert free_text(kept) == kept_before


def test_the_people_released_lose_everything_that_identifies_them_and_nothing_else(households):
    expired, kept = households
    mother = Person.objects.get(pk=expired.mother.pk)
    retention.retention_apply(today=expired.retention_day)

    for before in expired.people:
        person = Person.objects.get(pk=before.pk)
        assert (person.given_name, person.family_name, person.patronymic) == ("Anonymised", "", "")
        assert (person.place_of_birth, person.phone) == ("", "")
        assert person.date_of_birth == datetime.date(before.date_of_birth.year, 1, 1)
        assert person.date_of_birth_estimated is True and person.anonymised_at is not None
        assert person.sex == before.sex
    assert mother.phone and mother.patronymic  # they were there
    people = [person.pk for person in expired.people]
    assert not PersonName.objects.filter(person_id__in=people).exists()
    assert not PersonIdentifier.objects.filter(person_id__in=people).exists()
    # The household's label and whom it went to go with its last member.
    family = Family.objects.get(pk=expired.family.pk)
    assert family.label == "" and not ReceivingRelative.objects.filter(family=family).exists()
    # The household that came back keeps its people, label and receiving relative.
    for before in kept.people:
        person = Person.objects.get(pk=before.pk)
        assert (person.given_name, person.anonymised_at) == (before.given_name, None)
    assert PersonName.objects.filter(person_id__in=[p.pk for p in kept.people]).count() == 7
    assert Family.objects.get(pk=kept.family.pk).label == "QwertovaB household (test)"
    assert ReceivingRelative.objects.filter(family=kept.family).count() == 1


def test_a_family_keeps_its_label_while_one_member_is_not_anonymised(programme, caseworker, supervisor, agency):
    programme.retention_days = RETENTION_DAYS
    programme.save()
    household = Household(programme=programme, caseworker=caseworker, supervisor=supervisor, agency=agency, tag="C")
    ReceivingRelative.objects.create(family=household.family, name="Ornelqa (test)")
    # Only the mother's case is due: the daughter's was reopened and stays.
    closure.case_reopen(case_id=household.cases[1].pk, by=caseworker, reason="Back for support (test)")

    result = retention.retention_apply(today=household.retention_day)

    assert result.case_ids == [household.cases[0].pk] and result.person_ids == [household.mother.pk]
    family = Family.objects.get(pk=household.family.pk)
    assert family.label == "QwertovaC household (test)"
    assert ReceivingRelative.objects.filter(family=family).count() == 1


# --- The step named when a table refuses --------------------------------------------------


def refuse(model, operation: str, *, column: str | None = None, value: int | None = None) -> None:
    """Make the database refuse ``operation`` (UPDATE or DELETE) on the model's table,
    for every row or for the rows whose ``column`` is ``value``, as a constraint or a
    lock would: retention must report the step and go on with the others."""
    table = model._meta.db_table
    name = f"refuse_{table}_{operation.lower()}"
    when = f"OLD.{column} = {int(value)}" if column else ""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW"
                f"{' WHEN ' + when if when else ''} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            cursor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW"
                f"{' WHEN (' + when + ')' if when else ''} EXECUTE FUNCTION {name}()"
            )


STEPS = [
    ("admin log", LogEntry, "UPDATE", [0, 1]),
    ("notes", CaseNote, "UPDATE", [0, 1]),
    ("closure requests", ClosureRequest, "UPDATE", [0, 1]),
    ("closure requests", CaseStatusChange, "UPDATE", [0, 1]),  # the status changes' notes go with them
    ("closure requests", TransferRequest, "UPDATE", [0]),
    ("referrals", Referral, "UPDATE", [1]),
    ("stages", StageRecord, "UPDATE", [0, 1]),
    ("stages", StageTransition, "UPDATE", [0, 1]),
    ("follow-ups", FollowUp, "UPDATE", [0, 1]),
    ("stage details", DocumentRequest, "UPDATE", [0, 1]),
    ("stage details", HousingPlacement, "UPDATE", [0, 1]),
    ("stage details", PsychologicalSession, "UPDATE", [0, 1]),
    ("stage details", RelativeContact, "UPDATE", [0]),
    ("legal proceedings", LegalProceeding, "UPDATE", [0]),
    ("legal proceedings", CourtHearing, "UPDATE", [0]),
    ("cases", Case, "UPDATE", [0, 1]),
    ("names", PersonName, "DELETE", [0, 1]),
    ("identifiers", PersonIdentifier, "DELETE", [0, 1]),
    ("consents", Consent, "UPDATE", [1]),
    ("persons", Person, "UPDATE", [0, 1]),
    ("families", Family, "UPDATE", [1]),  # the household's last case
    ("families", ReceivingRelative, "DELETE", [1]),
]


@pytest.mark.parametrize(
    ("step", "model", "operation", "failing"), STEPS, ids=[f"{s[0]}-{s[1].__name__}" for s in STEPS]
)
def test_a_table_that_refuses_names_the_step_and_rolls_back_only_its_case(
    programme, other_programme, administrator, caseworker, supervisor, agency, step, model, operation, failing
):
    programme.retention_days = RETENTION_DAYS
    programme.save()
    household = Household(programme=programme, caseworker=caseworker, supervisor=supervisor, agency=agency, tag="D")
    extras(household, other_programme=other_programme, caseworker=caseworker)
    legacy_admin_log(administrator, household)
    refuse(model, operation)

    result = retention.retention_apply(today=household.retention_day)

    cases = household.cases
    assert [failure["case"] for failure in result.failures] == [cases[i].reference for i in failing]
    for failure in result.failures:
        assert failure["step"] == step and failure["programme"] == programme.pk
        assert failure["error"] == "IntegrityError", failure  # no value quoted
    assert result.case_ids == [case.pk for i, case in enumerate(cases) if i not in failing]
    for i in failing:  # rolled back whole
        assert Case.objects.get(pk=cases[i].pk).anonymised_at is None
        assert CaseNote.objects.get(case=cases[i]).body.startswith("Spoke about")
    run = RetentionRun.objects.get()
    assert (run.cases_anonymised, run.failures) == (2 - len(failing), result.failures)


def left_behind(case) -> int:
    """A person whose cases an earlier run anonymised before it stopped."""
    Case.objects.filter(pk=case.pk).update(status="closed", closed_on=case.opened_on, anonymised_at=timezone.now())
    return case.person_id


@pytest.mark.parametrize(
    ("step", "model", "operation", "column"),
    [
        ("names", PersonName, "DELETE", "person_id"),
        ("identifiers", PersonIdentifier, "DELETE", "person_id"),
        ("persons", Person, "UPDATE", "id"),
    ],
)
def test_a_person_left_behind_who_cannot_be_anonymised_is_reported_and_the_next_goes_on(
    caseworker, step, model, operation, column
):
    people = []
    for index in range(3):
        person = f.PersonFactory(given_name=f"Leftgiven{index}")
        PersonName.objects.create(person=person, full_name=f"Leftgiven{index} (test)", script="latin", kind="alias")
        PersonIdentifier.objects.create(person=person, kind="passport", value=f"LFT-{index}", issuing_country="KZ")
        people.append(left_behind(f.CaseFactory(person=person, caseworker=caseworker, reference=f"N-LEFT-{index}")))
    # A second case of the first person, anonymised too: the person is tried once.
    left_behind(f.CaseFactory(person_id=people[0], caseworker=caseworker, reference="N-LEFT-0B"))
    refuse(model, operation, column=column, value=people[1])

    result = retention.retention_apply()

    assert result.case_ids == [] and result.person_ids == [people[0], people[2]]
    assert [(fail["person"], fail["programme"], fail["step"]) for fail in result.failures] == [(people[1], None, step)]
    assert Person.objects.get(pk=people[1]).given_name == "Leftgiven1"
    assert PersonName.objects.filter(person_id=people[1]).count() == 1
    assert [Person.objects.get(pk=pk).given_name for pk in (people[0], people[2])] == ["Anonymised"] * 2
    run = RetentionRun.objects.get()
    assert (run.cases_anonymised, run.persons_anonymised, len(run.failures)) == (0, 2, 1)


def test_a_left_behind_persons_admin_log_that_refuses_is_reported_as_the_admin_log(caseworker, administrator):
    person = f.PersonFactory(given_name="Logleft")
    left_behind(f.CaseFactory(person=person, caseworker=caseworker, reference="N-LOG"))
    LogEntry.objects.create(
        user=administrator,
        content_type=ContentType.objects.get_for_model(Person),
        object_id=str(person.pk),
        object_repr="Logleft (test)",
        action_flag=2,
        change_message="Renamed from Logleft (test)",
    )
    refuse(LogEntry, "UPDATE")
    result = retention.retention_apply()
    assert [(fail["person"], fail["step"]) for fail in result.failures] == [(person.pk, "admin log")]
    assert result.person_ids == [] and Person.objects.get(pk=person.pk).given_name == "Logleft"


# --- The retention period's edges and what is due -------------------------------------------


def closed_case(*, caseworker, programme=None, closed_on, reference):
    case = f.CaseFactory(caseworker=caseworker, reference=reference, opened_on=closed_on - datetime.timedelta(days=9))
    if programme is not None:
        f.enrol(case, programme, enrolled_on=case.opened_on)
    Case.objects.filter(pk=case.pk).update(status="closed", closed_on=closed_on)
    return case


def test_a_case_is_kept_through_the_last_day_of_its_period_and_anonymised_the_day_after(
    programme, other_programme, caseworker
):
    programme.retention_days, other_programme.retention_days = 100, 3000
    programme.save()
    other_programme.save()
    closed_on = datetime.date(2020, 1, 10)
    short = closed_case(caseworker=caseworker, programme=programme, closed_on=closed_on, reference="N-SHORT")
    long = closed_case(caseworker=caseworker, programme=other_programme, closed_on=closed_on, reference="S-LONG")
    never = closed_case(caseworker=caseworker, closed_on=closed_on, reference="N-NEVER")
    day = datetime.timedelta(days=1)

    def planned(today):
        return retention.retention_plan(today=today).case_ids

    last_short = closed_on + datetime.timedelta(days=100)
    assert planned(last_short) == [] and planned(last_short + day) == [short.pk]
    # A case never enrolled: five years, the shortest rule a programme may set.
    last_never = closed_on + datetime.timedelta(days=5 * 365)
    assert planned(last_never) == [short.pk]
    # Closed the same day: in the order of their references.
    assert planned(last_never + day) == [never.pk, short.pk]
    last_long = closed_on + datetime.timedelta(days=3000)
    assert planned(last_long) == [never.pk, short.pk]
    assert planned(last_long + day) == [never.pk, short.pk, long.pk]
    plan = retention.retention_plan(today=last_long + day)
    assert plan.programme_of_case == {short.pk: programme.pk, never.pk: None, long.pk: other_programme.pk}
    assert plan.cases[1] == ("N-SHORT", closed_on, last_short)
    assert plan.person_ids == sorted([short.person_id, never.person_id, long.person_id])


def test_a_programme_with_a_period_shorter_than_the_default_is_not_held_to_the_default(programme, caseworker):
    programme.retention_days = 30
    programme.save()
    closed_on = timezone.localdate() - datetime.timedelta(days=45)
    case = closed_case(caseworker=caseworker, programme=programme, closed_on=closed_on, reference="N-QUICK")
    assert retention.retention_plan().case_ids == [case.pk]


def test_what_is_due_per_programme_overdue_and_within_the_horizon(programme, other_programme, caseworker):
    programme.retention_days = other_programme.retention_days = 100
    programme.save()
    other_programme.save()
    today = datetime.date(2026, 6, 1)
    # Its period ended yesterday: a run failed on it, it waits.
    closed_case(
        caseworker=caseworker, programme=programme, closed_on=today - datetime.timedelta(days=102), reference="N-OVER"
    )
    closed_case(
        caseworker=caseworker, programme=programme, closed_on=today - datetime.timedelta(days=100), reference="N-TODAY"
    )
    closed_case(
        caseworker=caseworker,
        programme=other_programme,
        closed_on=today - datetime.timedelta(days=90),
        reference="S-TEN",
    )
    closed_case(
        caseworker=caseworker, programme=programme, closed_on=today - datetime.timedelta(days=50), reference="N-LATER"
    )

    due = retention.retention_due(today=today, days=30)

    assert set(due) == {programme.pk, other_programme.pk}
    assert due[programme.pk].overdue == [("N-OVER", today - datetime.timedelta(days=2))]
    assert due[programme.pk].due == [("N-TODAY", today)]
    assert (due[other_programme.pk].overdue, due[other_programme.pk].due) == (
        [],
        [("S-TEN", today + datetime.timedelta(days=10))],
    )
    assert due[programme.pk].programme_id == programme.pk
    # The horizon is the number of days asked for.
    assert [row.due for row in retention.retention_due(today=today, days=5).values()] == [[("N-TODAY", today)]]
