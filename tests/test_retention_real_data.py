"""Retention on cases closed as real ones are: through the closure workflow, with every kind
of stage detail and follow-ups done. After a run, the scanner finds none of the erased
values in any column of any table; one case that fails does not stop the others."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
from unittest import mock

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from lifecycle import closure, retention
from casework.models import (
    Case,
    CaseNote,
    ClosureRequest,
    Consent,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    Referral,
    RetentionRun,
)
from lifecycle.personal_data_scan import files_find, person_values, personal_data_find
from core.roles import role_groups_sync
from programmes import reports, workflow
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    EmploymentPlacement,
    FollowUp,
    HousingPlacement,
    PsychologicalSession,
    SchoolPlacement,
    StageRecord,
)
from config.celery import app
from notifications import delivery
from tests import factories as f
from tests.admin_forms import admin_form_data
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

D = datetime.date
RETENTION_DAYS = 365


@contextlib.contextmanager
def freeze_today(day):
    """The admin page's "today" (the server's calendar day)."""
    with mock.patch("backoffice.retention_admin.timezone.localdate", return_value=day):
        yield


def stage(case, code) -> StageRecord:
    return StageRecord.objects.get(enrolment__case=case, stage_type__code=code)


def follow_ups_done(stage_id, *, by, outcomes, on):
    """Record the stage's open follow-up as done, once per outcome (the next is scheduled each time)."""
    for outcome in outcomes:
        follow_up = FollowUp.objects.get(stage_id=stage_id, done_on__isnull=True, cancelled_on__isnull=True)
        workflow.follow_up_record(follow_up_id=follow_up.pk, by=by, outcome=outcome, done_on=on)


class Household:
    """A mother and her school-age daughter, both returnees with a case, received by a grandmother."""

    def __init__(self, *, programme, caseworker, supervisor, agency, tag: str):
        today = programme.local_today()
        self.arrival = today - datetime.timedelta(days=120)
        self.tag = tag
        self.mother = f.PersonFactory(
            given_name=f"Zarinqa{tag}",
            family_name=f"Qwertova{tag}",
            patronymic=f"Yxbekovna{tag}",
            date_of_birth=D(1991, 8, 23),
            place_of_birth=f"Camp Vrellow {tag} (test)",
        )
        self.daughter = f.PersonFactory(
            given_name=f"Lumiqa{tag}",
            family_name=f"Qwertova{tag}",
            date_of_birth=D(2014, 6, 9),
            place_of_birth=f"Camp Vrellow {tag} (test)",
        )
        self.grandmother = f.PersonFactory(
            given_name=f"Ornelqa{tag}", family_name=f"Qwertova{tag}", date_of_birth=D(1962, 11, 14)
        )
        for person, spellings in (
            (
                self.mother,
                [
                    (f"Зарінқа Квертова{tag}", "cyrillic", "spelling"),
                    (f"Umm Qastelo{tag}", "latin", "alias"),
                    (f"Zarinqa Oldnamova{tag}", "latin", "former"),
                ],
            ),
            (
                self.daughter,
                [(f"Лумиқа Квертова{tag}", "cyrillic", "spelling"), (f"لوميقا{tag}", "arabic", "spelling")],
            ),
        ):
            PersonName.objects.create(
                person=person, full_name=f"{person.given_name} {person.family_name}", script="latin", kind="primary"
            )
            for full_name, script, kind in spellings:
                PersonName.objects.create(person=person, full_name=full_name, script=script, kind=kind)
        PersonIdentifier.objects.create(
            person=self.mother, kind="passport", value=f"QX{tag}771904", issuing_country="KZ"
        )
        PersonIdentifier.objects.create(
            person=self.daughter, kind="birth_certificate", value=f"BQ{tag}550312", issuing_country="KZ"
        )
        self.family = Family.objects.create(reference=f"F-RET-{tag}", label=f"Qwertova{tag} household (test)")
        FamilyMembership.objects.create(family=self.family, person=self.mother, relationship="head")
        FamilyMembership.objects.create(family=self.family, person=self.daughter, relationship="child")
        FamilyMembership.objects.create(
            family=self.family, person=self.grandmother, relationship="parent", role="receiving_relative"
        )
        self.cases = []
        for person, reference in ((self.mother, f"N-RET-{tag}-1"), (self.daughter, f"N-RET-{tag}-2")):
            case = f.CaseFactory(
                person=person,
                family=self.family,
                caseworker=caseworker,
                reference=reference,
                arrival_date=self.arrival,
                opened_on=self.arrival,
            )
            f.enrol(case, programme, by=caseworker, enrolled_on=self.arrival)
            CaseNote.objects.create(
                case=case, author=caseworker, body=f"Spoke about Vrellow camp {tag} {reference} (test)"
            )
            self.cases.append(case)
        consent = Consent.objects.create(
            person=self.daughter,
            agency=agency,
            purpose="schooling",
            given_by="guardian",
            guardian_name=f"Zarinqa{tag} Qwertova{tag}",
            given_on=self.arrival,
            recorded_by=caseworker,
        )
        Referral.objects.create(
            case=self.cases[1],
            agency=agency,
            purpose="schooling",
            consent=consent,
            referred_by=caseworker,
            referred_on=self.arrival,
            note=f"Enrol Lumiqa{tag} at the school near Ozzel street (test)",
        )
        self.run_the_plan(caseworker=caseworker, today=today)
        for case in self.cases:
            request = closure.case_closure_request(
                case_id=case.pk, by=caseworker, reason=f"Settled with the grandmother {tag} {case.reference} (test)"
            )
            closure.case_closure_decide(
                request_id=request.pk, by=supervisor, approve=True, comment=f"Agreed {tag} {case.reference} (test)"
            )

    def run_the_plan(self, *, caseworker, today):
        """Every stage of both cases worked through the workflow, with its details and done follow-ups."""
        tag = self.tag
        start = self.arrival + datetime.timedelta(days=1)
        for index, case in enumerate(self.cases):
            who = f"{tag}-{index}"
            centre = stage(case, "accommodation")
            workflow.stage_start(stage_id=centre.pk, by=caseworker, on=start)
            AccommodationStay.objects.create(
                stage=centre,
                centre="Adaptation centre (test)",
                arrived_on=self.arrival,
                exited_on=start + datetime.timedelta(days=30),
            )
            follow_ups_done(
                centre.pk,
                by=caseworker,
                outcomes=[f"Centre visit {who}: sleeps badly (test)", f"Centre visit 2 {who} (test)"],
                on=start + datetime.timedelta(days=8),
            )
            workflow.stage_complete(
                stage_id=centre.pk,
                by=caseworker,
                outcome=f"Left the centre {who} (test)",
                on=start + datetime.timedelta(days=30),
            )
            # Leaving the centre started the housing stage.
            housing = stage(case, "housing")
            HousingPlacement.objects.create(
                stage=housing,
                address=f"{index + 12} Ozzelquay street {tag}, flat 4 (test)",
                settlement="Demo town",
                living_with="relatives",
                reunification="reunited",
                moved_in_on=start + datetime.timedelta(days=30),
            )
            follow_ups_done(
                housing.pk,
                by=caseworker,
                outcomes=[f"Home visit {who}: grandmother cooperative (test)"],
                on=start + datetime.timedelta(days=45),
            )
            workflow.stage_complete(
                stage_id=housing.pk,
                by=caseworker,
                outcome=f"Housed with relatives {who} (test)",
                on=start + datetime.timedelta(days=60),
            )

            psychological = stage(case, "psychological")
            workflow.stage_start(stage_id=psychological.pk, by=caseworker, on=start)
            PsychologicalSession.objects.create(
                stage=psychological,
                kind="assessment",
                held_on=start,
                instrument="SDQ",
                score=14,
                practitioner="Dr Quentha Psyovna (test)",
            )
            PsychologicalSession.objects.create(
                stage=psychological,
                held_on=start + datetime.timedelta(days=14),
                practitioner="Dr Quentha Psyovna (test)",
            )
            follow_ups_done(
                psychological.pk,
                by=caseworker,
                outcomes=[f"Session {who}: nightmares fewer (test)"],
                on=start + datetime.timedelta(days=15),
            )
            workflow.stage_block(stage_id=psychological.pk, by=caseworker, reason=f"Psychologist away {who} (test)")
            workflow.stage_unblock(stage_id=psychological.pk, by=caseworker)
            workflow.stage_complete(
                stage_id=psychological.pk,
                by=caseworker,
                outcome=f"Much calmer {who} (test)",
                on=start + datetime.timedelta(days=90),
            )

            documents = stage(case, "documents")
            workflow.stage_start(stage_id=documents.pk, by=caseworker, on=start)
            DocumentRequest.objects.create(
                stage=documents,
                document_type="birth_certificate" if index else "passport",
                status="issued",
                requested_on=start,
                issued_on=start + datetime.timedelta(days=20),
                number=f"DQ{tag}{index}448812",
                note=f"Collected by Zarinqa{tag} (test)",
            )
            follow_ups_done(
                documents.pk,
                by=caseworker,
                outcomes=[f"Registry appointment {who} went well (test)"],
                on=start + datetime.timedelta(days=31),
            )
            workflow.stage_complete(
                stage_id=documents.pk,
                by=caseworker,
                outcome=f"Documents issued {who} (test)",
                on=start + datetime.timedelta(days=40),
            )

        school = stage(self.cases[1], "school")
        workflow.stage_start(stage_id=school.pk, by=caseworker, on=start + datetime.timedelta(days=31))
        SchoolPlacement.objects.create(
            stage=school,
            institution="School No. 7 (test)",
            level="school",
            grade=5,
            language_support=True,
            enrolled_on=start + datetime.timedelta(days=31),
        )
        follow_ups_done(
            school.pk,
            by=caseworker,
            outcomes=[f"School check {tag}: teacher pleased (test)"],
            on=start + datetime.timedelta(days=62),
        )
        workflow.stage_complete(
            stage_id=school.pk,
            by=caseworker,
            outcome=f"Settled in class {tag} (test)",
            on=start + datetime.timedelta(days=100),
        )

        employment = stage(self.cases[0], "employment")
        workflow.stage_start(stage_id=employment.pk, by=caseworker, on=start + datetime.timedelta(days=61))
        EmploymentPlacement.objects.create(
            stage=employment,
            kind="training",
            organisation="Sewing course (test)",
            started_on=start + datetime.timedelta(days=61),
        )
        follow_ups_done(
            employment.pk,
            by=caseworker,
            outcomes=[f"Course check {tag}: attends (test)"],
            on=start + datetime.timedelta(days=91),
        )
        workflow.stage_discontinue(stage_id=employment.pk, by=caseworker, reason=f"Moved to Ozzel town {tag} (test)")

    @property
    def people(self):
        return [self.mother, self.daughter, self.grandmother]

    @property
    def retention_day(self):
        return Case.objects.get(pk=self.cases[0].pk).closed_on + datetime.timedelta(days=RETENTION_DAYS + 1)


@pytest.fixture
def household(programme, caseworker, supervisor, agency):
    programme.retention_days = RETENTION_DAYS
    programme.save()
    reports.report_schedule_ensure(programme=programme)
    return Household(programme=programme, caseworker=caseworker, supervisor=supervisor, agency=agency, tag="A")


@pytest.fixture
def second_household(programme, caseworker, supervisor, agency, household):
    return Household(programme=programme, caseworker=caseworker, supervisor=supervisor, agency=agency, tag="B")


def admin_edits(client, administrator, household):
    """The admin writes its log as usual: a change of the mother with her names inline."""
    force_login(client, administrator)
    url = reverse("admin:casework_person_change", args=[household.mother.pk])
    response = client.post(url, admin_form_data(client.get(url), patronymic=f"Yxbekovna{household.tag}2"))
    assert response.status_code == 302, response.content[:2000]


def legacy_admin_log(administrator, household):
    """Rows written as the admin wrote them before its log withheld names (or in bulk, past the signal)."""
    person_type = ContentType.objects.get_for_model(Person)
    message = json.dumps([{"added": {"name": "person name", "object": f"Umm Qastelo{household.tag}"}}])
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                user=administrator,
                content_type=person_type,
                object_id=str(household.mother.pk),
                object_repr=household.mother.full_name,
                action_flag=CHANGE,
                change_message=message,
            ),
            LogEntry(
                user=administrator,
                content_type=person_type,
                object_id=str(household.daughter.pk),
                object_repr=household.daughter.full_name,
                action_flag=CHANGE,
                change_message=f"Renamed from Lumiqa{household.tag} (test)",
            ),
        ]
    )


@pytest.fixture
def mail_as_files(settings, tmp_path, django_capture_on_commit_callbacks):
    """E-mails written as files, as on a machine without SMTP, and sent at once."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True

    def send_due():
        with django_capture_on_commit_callbacks(execute=True):
            delivery.notifications_claim()

    yield send_due
    app.conf.task_always_eager = previous


def test_retention_after_the_real_workflow_leaves_no_personal_value_in_any_table(
    programme, caseworker, supervisor, administrator, household, client, tmp_path, mail_as_files
):
    role_groups_sync()
    admin_edits(client, administrator, household)
    legacy_admin_log(administrator, household)
    day = household.retention_day
    period = reports.period_containing(programme.local_today(), "weekly")
    reports.report_send(programme=programme, period=period)
    mail_as_files()
    assert list(tmp_path.iterdir())  # the stage report, at least
    before = reports.report_numbers(programme=programme, period=period)
    values = {}
    for person in household.people:
        for kind, found in person_values(Person.objects.get(pk=person.pk)).items():
            values.setdefault(kind, set()).update(found)
    assert {
        "name",
        "alias",
        "former name",
        "identifier",
        "place of birth",
        "date of birth",
        "address",
        "document number",
        "free text",
        "guardian name",
        "family label",
    } <= set(values)
    # The scanner sees them where they are: names, decrypted identifiers, addresses, outcomes.
    tables = {finding.table for finding in personal_data_find(values=values)}
    assert {
        "casework_person",
        "casework_personname",
        "casework_personidentifier",
        "programmes_housingplacement",
        "programmes_followup",
        "casework_closurerequest",
        "django_admin_log",
    } <= tables
    assert FollowUp.objects.filter(stage__enrolment__case__in=household.cases, done_on__isnull=False).count() >= 10

    out, err = io.StringIO(), io.StringIO()
    call_command("apply_retention", "--today", day.isoformat(), stdout=out, stderr=err)

    assert "Anonymised 2 cases and 3 people" in out.getvalue(), err.getvalue()
    assert personal_data_find(values=values) == []
    # The report numbers stay as they were.
    assert reports.report_numbers(programme=programme, period=period) == before
    # Every record is still there, with the marker where free text was.
    assert set(
        FollowUp.objects.filter(stage__enrolment__case__in=household.cases, done_on__isnull=False).values_list(
            "outcome", flat=True
        )
    ) == {retention.ANONYMISED}
    assert DocumentRequest.objects.filter(stage__enrolment__case__in=household.cases, status="issued").count() == 2
    run = RetentionRun.objects.get()
    assert (run.cases_anonymised, run.persons_anonymised, run.failures) == (2, 3, [])
    # The audit trail keeps the birth year, never the day and month.
    anonymisation = AuditEntry.objects.filter(
        content_type__model="person", object_id=household.mother.pk, changes__has_key="anonymised_at", action=1
    ).get()
    assert anonymisation.changes["date_of_birth"] == ["1991-[withheld]", "1991-[withheld]"]
    # No file the product wrote (e-mails as files) holds them either.
    assert files_find(directory=tmp_path, values=values) == []


def test_one_case_that_fails_does_not_stop_the_others_and_is_retried(
    programme, household, second_household, monkeypatch
):
    failing = second_household.cases[0]
    original = retention.cases_anonymise

    def breaks_on_one_case(*, case_ids, step=None):
        original(case_ids=case_ids, step=step)
        if failing.pk in case_ids:
            # What the database said before the marker: a done follow-up without outcome.
            from django.db import IntegrityError

            raise IntegrityError(
                'new row for relation "programmes_followup" violates check constraint "follow_up_done_has_outcome"\n'
                f"DETAIL:  Failing row contains (1, {second_household.mother.given_name})."
            )

    monkeypatch.setattr(retention, "cases_anonymise", breaks_on_one_case)
    day = max(household.retention_day, second_household.retention_day)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 could not be anonymised"):
        call_command("apply_retention", "--today", day.isoformat(), stdout=io.StringIO(), stderr=err)

    run = RetentionRun.objects.get()
    assert run.cases_anonymised == 3
    assert run.failures == [
        {
            "case": failing.reference,
            "programme": programme.pk,
            "step": "cases",
            "error": "IntegrityError: follow_up_done_has_outcome",
        }
    ]
    report = json.dumps(run.failures) + err.getvalue()
    assert second_household.mother.given_name not in report and "Qwertova" not in report
    # The failed case rolled back whole: nothing of it, nor its mother, is anonymised.
    failing.refresh_from_db()
    assert failing.anonymised_at is None
    assert Person.objects.get(pk=second_household.mother.pk).given_name == second_household.mother.given_name
    assert CaseNote.objects.get(case=failing).body.startswith("Spoke about")
    # The others are done, the daughter of the same household included.
    assert all(Person.objects.get(pk=p.pk).anonymised_at for p in (*household.people, second_household.daughter))
    # Its grandmother waits for the family's last case.
    assert Person.objects.get(pk=second_household.grandmother.pk).anonymised_at is None

    monkeypatch.setattr(retention, "cases_anonymise", original)
    result = retention.retention_apply(today=day)
    assert result.case_ids == [failing.pk] and result.failures == []
    assert sorted(result.person_ids) == sorted([second_household.mother.pk, second_household.grandmother.pk])
    assert RetentionRun.objects.order_by("-started_at", "-pk").first().failures == []


def test_the_admin_log_names_rows_by_reference(programme, administrator, household, client):
    role_groups_sync()
    admin_edits(client, administrator, household)
    entry = LogEntry.objects.get(content_type__model="person", object_id=str(household.mother.pk))
    assert entry.object_repr == f"person #{household.mother.pk}"
    assert "Zarinqa" not in entry.object_repr + entry.change_message


def test_export_person_includes_the_admin_log(programme, administrator, household, client):
    role_groups_sync()
    admin_edits(client, administrator, household)
    legacy_admin_log(administrator, household)
    out = io.StringIO()
    call_command("export_person", str(household.mother.pk), stdout=out)
    data = json.loads(out.getvalue())
    rows = data["admin_log"]
    assert len(rows) == 2
    assert {row["by"] for row in rows} == {"admin"}
    assert all(row["record"] == "casework.person" and row["object_id"] == str(household.mother.pk) for row in rows)
    # Where the person's values are stored, by table and kind (the values are in the export itself).
    found = {(row["table"], row["kind"]) for row in data["where_found"]}
    assert ("casework_personname", "alias") in found and ("django_admin_log", "name") in found
    assert "Zarinqa" not in json.dumps(data["where_found"])


def test_find_personal_data_command(household):
    out, err = io.StringIO(), io.StringIO()
    call_command("find_personal_data", "--person", str(household.mother.pk), stdout=out, stderr=err)
    lines = [line.split("\t") for line in out.getvalue().splitlines()]
    assert ["casework_personname", "full_name"] in [line[:2] for line in lines]
    assert "Zarinqa" not in out.getvalue()
    with pytest.raises(CommandError, match="No person"):
        call_command("find_personal_data", "--person", "999999")


def test_administrators_see_what_is_due_and_the_last_run_with_its_failures(
    programme, other_programme, administrator, caseworker, household, client
):
    role_groups_sync()
    due_on = household.retention_day - datetime.timedelta(days=1)  # the last day kept
    RetentionRun.objects.create(
        started_at=timezone.now(),
        finished_at=timezone.now(),
        today=timezone.localdate(),
        cases_anonymised=4,
        persons_anonymised=5,
        failures=[
            {
                "case": "N-OLD-9",
                "programme": programme.pk,
                "step": "follow-ups",
                "error": "IntegrityError: follow_up_done_has_outcome",
            }
        ],
    )
    url = reverse("admin:casework_retentionrun_changelist")
    force_login(client, administrator)
    with freeze_today(due_on - datetime.timedelta(days=10)):
        page = client.get(url).content.decode()
    assert "North (test)" in page and "South (test)" in page
    assert household.cases[0].reference in page and household.cases[1].reference in page
    assert "follow_up_done_has_outcome" in page and "N-OLD-9" in page
    assert "Zarinqa" not in page
    # Thirty days is the horizon: seen from further away, nothing is due yet.
    with freeze_today(due_on - datetime.timedelta(days=40)):
        assert household.cases[0].reference not in client.get(url).content.decode()
    force_login(client, caseworker)
    assert client.get(url).status_code == 403


def test_the_demo_data_has_real_closed_cases_and_retention_runs_through_them():
    from programmes.demo import demo_seed

    day = D(2026, 11, 23)
    demo_seed(size=300, seed=2026, today=day)
    closed = Case.objects.filter(status="closed")
    stages = StageRecord.objects.filter(enrolment__case__in=closed)
    assert (
        closed.exists() and ClosureRequest.objects.filter(case__in=closed, status="approved").count() == closed.count()
    )
    assert FollowUp.objects.filter(stage__in=stages, done_on__isnull=False).exists()
    for model in (AccommodationStay, PsychologicalSession, SchoolPlacement, DocumentRequest, HousingPlacement):
        assert model.objects.filter(stage__in=stages).exists(), model.__name__
    # Some are already past the southern programme's retention period.
    assert retention.retention_plan(today=day)

    result = retention.retention_apply(today=day + datetime.timedelta(days=6 * 365))

    assert result.failures == []
    assert sorted(result.case_ids) == sorted(closed.values_list("pk", flat=True))
    assert not Case.objects.filter(status="closed", anonymised_at__isnull=True).exists()


def test_entries_written_before_keep_only_the_year_of_birth(case):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("audit.migrations.0003_withhold_day_and_month_of_birth")
    old = AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Person),
        object_pk=str(case.person_id),
        object_id=case.person_id,
        object_repr=f"person #{case.person_id}",
        action=1,
        changes={"date_of_birth": ["1990-05-17", "1991-08-23"], "sex": ["male", "female"]},
    )
    # The migration uses only the schema editor's connection.
    migration.withhold_day_and_month(apps, SimpleNamespace(connection=connection))
    old = AuditEntry.objects.get(pk=old.pk)
    assert old.changes == {"date_of_birth": ["1990-[withheld]", "1991-[withheld]"], "sex": ["male", "female"]}
    # And the trail is append-only again.
    with pytest.raises(Exception), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditentry SET object_repr = 'x' WHERE id = %s", [old.pk])


def test_a_person_left_behind_by_an_earlier_run_is_anonymised_on_the_next(case):
    """Every case of the person anonymised, the person not (an earlier run stopped between)."""
    Case.objects.filter(pk=case.pk).update(status="closed", closed_on=case.opened_on, anonymised_at=timezone.now())
    result = retention.retention_apply()
    assert result.case_ids == [] and result.person_ids == [case.person_id] and result.failures == []
    assert Person.objects.get(pk=case.person_id).given_name == retention.ANONYMISED_NAME


def test_a_case_reopened_after_the_plan_was_made_is_left_alone(programme, caseworker, household):
    plan = retention.retention_plan(today=household.retention_day)
    closure.case_reopen(case_id=household.cases[0].pk, by=caseworker, reason="Back for support (test)")
    result = retention.retention_apply(plan=plan)
    assert result.case_ids == [household.cases[1].pk] and result.failures == []
    assert Person.objects.get(pk=household.mother.pk).anonymised_at is None
    assert Case.objects.get(pk=household.cases[0].pk).anonymised_at is None
