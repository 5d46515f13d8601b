"""Data protection: the audit trail through the admin, task and command doors and its
append-only table; encrypted identifiers; consent for children; retention that
forgets exactly what has expired and leaves the report numbers alone; subject access."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry, persons_key
from lifecycle import retention
from casework import services
from casework.models import (
    Case,
    CaseNote,
    CaseStatus,
    Consent,
    Person,
    PersonIdentifier,
    PersonName,
    identifier_digest,
)
from core.roles import role_groups_sync
from programmes import reports
from programmes.models import DocumentRequest, StageRecord
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db
A = LogEntry.Action
D = datetime.date


def entries_for(model, **filters):
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), **filters)


@pytest.fixture
def staff_client(client, caseworker):
    from django.contrib.auth.models import Group

    role_groups_sync()
    caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    force_login(client, caseworker)
    return client


def admin_login(client, user):
    force_login(client, user)
    return client


def change_form_data(response) -> dict:
    """The POST body an unchanged submit of an admin change page would send."""
    data = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None:
            continue
        data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, field in formset.management_form.fields.items():
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for inline_form in formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is not None and value is not False:
                    data[inline_form.add_prefix(name)] = value
    return data


# --- The admin door -----------------------------------------------------------------


def test_admin_save_and_inline_are_audited_with_actor_and_door(staff_client, caseworker, case):
    url = reverse("admin:casework_case_change", args=[case.pk])
    data = change_form_data(staff_client.get(url))
    data["risk_level"] = "high"
    data["notes-TOTAL_FORMS"] = str(int(data["notes-TOTAL_FORMS"]) + 1)
    new = int(data["notes-TOTAL_FORMS"]) - 1
    data[f"notes-{new}-body"] = "Visited the family; all well (test)."
    data[f"notes-{new}-case"] = case.pk
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]

    update = entries_for(Case, action=A.UPDATE, object_id=case.pk).get()
    assert (update.actor, update.door) == (caseworker, "admin")
    assert update.changes["risk_level"] == ["medium", "high"]
    note = entries_for(CaseNote, action=A.CREATE).get()
    assert (note.actor, note.door) == (caseworker, "admin")
    # The note's text is recorded as written, not copied.
    assert note.changes["body"][1] == "[withheld]"
    assert note.persons == persons_key([case.person_id])


def test_admin_list_and_case_page_reads_are_audited(staff_client, caseworker, case):
    CaseNote.objects.create(case=case, author=caseworker, body="A note (test)")
    AuditEntry.objects.all()  # nothing to clear: the table is append-only
    before = AuditEntry.objects.filter(action=A.ACCESS).count()
    response = staff_client.get(reverse("admin:casework_case_changelist") + "?mine=yes")
    assert response.status_code == 200
    listed = entries_for(Case, action=A.ACCESS).latest("pk")
    assert listed.object_ids == [case.pk] and listed.door == "admin" and listed.actor == caseworker

    response = staff_client.get(reverse("admin:casework_case_change", args=[case.pk]))
    assert response.status_code == 200
    opened = entries_for(Case, action=A.ACCESS, object_id=case.pk).get()
    assert opened.actor == caseworker
    notes_read = entries_for(CaseNote, action=A.ACCESS).get()
    assert notes_read.object_ids == list(case.notes.values_list("pk", flat=True))
    assert AuditEntry.objects.filter(action=A.ACCESS).count() == before + 3


def test_admin_person_page_read_is_audited(staff_client, caseworker, case):
    response = staff_client.get(reverse("admin:casework_person_change", args=[case.person_id]))
    assert response.status_code == 200
    assert entries_for(Person, action=A.ACCESS, object_id=case.person_id, actor=caseworker).exists()


def test_audit_entries_cannot_be_changed_or_deleted_in_the_admin(client, administrator, case):
    admin_login(client, administrator)
    case.risk_level = "high"
    case.save()
    entry = entries_for(Case, action=A.UPDATE).get()
    change = reverse("admin:audit_auditentry_change", args=[entry.pk])
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 200
    assert client.get(change).status_code == 200
    client.post(change, {"object_repr": "tampered"})
    assert client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.object_repr != "tampered"


def test_audit_search_by_person_user_and_agency(client, administrator, caseworker, case, other_case):
    case.risk_level = "high"
    case.save()
    other_case.risk_level = "high"
    other_case.save()
    admin_login(client, administrator)
    url = reverse("admin:audit_auditentry_changelist")
    response = client.get(url, {"person": case.person_id})
    shown = list(response.context["cl"].result_list)
    assert shown and all(persons_key([case.person_id]) in e.persons for e in shown)
    assert response.context["cl"].result_count < client.get(url).context["cl"].result_count
    assert client.get(url, {"q": caseworker.username}).status_code == 200


def test_caseworkers_cannot_read_the_audit_trail(staff_client):
    assert staff_client.get(reverse("admin:audit_auditentry_changelist")).status_code == 403


# --- The table itself refuses changes ----------------------------------------------------


def _entry(case):
    case.risk_level = "high"
    case.save()
    return entries_for(Case, action=A.UPDATE).get()


def test_the_orm_refuses_to_change_or_delete_entries(case):
    entry = _entry(case)
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).update(object_repr="tampered")
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=entry.pk).delete()


def test_the_database_refuses_to_change_entries(case):
    entry = _entry(case)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET object_repr = 'tampered' WHERE id = %s", [entry.pk])
    entry.refresh_from_db()
    assert entry.object_repr != "tampered"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite refuses deletes in the ORM only")
def test_the_database_refuses_to_delete_entries(case):
    entry = _entry(case)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_a_change_and_its_entry_commit_or_roll_back_together(case):
    with pytest.raises(RuntimeError), transaction.atomic():
        case.risk_level = "high"
        case.save()
        assert entries_for(Case, action=A.UPDATE).exists()
        raise RuntimeError("the request fails after the write")
    assert not entries_for(Case, action=A.UPDATE).exists()


# --- Task and command doors ---------------------------------------------------------------


@pytest.fixture
def expired_case(programme, caseworker):
    """Closed two years ago in a programme that keeps data one year after closure."""
    programme.retention_days = 365
    programme.save()
    person = f.PersonFactory(given_name="Expiredgiven", family_name="Pastova", place_of_birth="Camp (test)")
    PersonName.objects.create(person=person, full_name="Экспайред Пастова", script="cyrillic", kind="spelling")
    PersonName.objects.create(person=person, full_name="Umm Expired", script="latin", kind="alias")
    PersonIdentifier.objects.create(person=person, kind="passport", value="EXP-0001", issuing_country="KZ")
    case = f.CaseFactory(
        person=person, caseworker=caseworker, reference="N-EXP", arrival_date=D(2023, 3, 1), opened_on=D(2023, 3, 1)
    )
    f.enrol(case, programme, by=caseworker, enrolled_on=D(2023, 3, 1))
    CaseNote.objects.create(case=case, author=caseworker, body="Talked about the past (test)")
    StageRecord.objects.filter(enrolment__case=case).update(outcome="Outcome with details (test)")
    Case.objects.filter(pk=case.pk).update(
        status=CaseStatus.CLOSED, closed_on=timezone.localdate() - datetime.timedelta(days=730)
    )
    case.refresh_from_db()
    return case


def test_the_retention_task_is_audited_through_the_task_door(expired_case):
    from lifecycle.tasks import apply_retention

    apply_retention.apply()
    entry = entries_for(Case, action=A.UPDATE, object_id=expired_case.pk).get()
    assert entry.door == "task" and entry.actor is None


def test_the_retention_command_dry_run_changes_nothing_and_the_run_is_audited(expired_case):
    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    assert "Would anonymise case N-EXP" in out.getvalue()
    assert Person.objects.get(pk=expired_case.person_id).given_name == "Expiredgiven"

    call_command("apply_retention", stdout=io.StringIO())
    entry = entries_for(Person, action=A.UPDATE, object_id=expired_case.person_id).get()
    assert entry.door == "command"
    assert entry.changes["given_name"] == ["[withheld]", "[withheld]"]


# --- Retention ------------------------------------------------------------------------


def test_retention_anonymises_exactly_what_has_expired(programme, caseworker, case, expired_case):
    recent = f.CaseFactory(
        caseworker=caseworker, reference="N-RECENT", person=f.PersonFactory(given_name="Recentgiven")
    )
    f.enrol(recent, programme, by=caseworker)
    CaseNote.objects.create(case=recent, author=caseworker, body="Recent note (test)")
    Case.objects.filter(pk=recent.pk).update(
        status=CaseStatus.CLOSED,
        opened_on=timezone.localdate() - datetime.timedelta(days=400),
        closed_on=timezone.localdate() - datetime.timedelta(days=300),
    )
    open_note = CaseNote.objects.create(case=case, author=caseworker, body="Open case note (test)")

    plan = retention.retention_apply()

    assert plan.case_ids == [expired_case.pk]
    assert plan.person_ids == [expired_case.person_id]
    person = Person.objects.get(pk=expired_case.person_id)
    assert (person.given_name, person.family_name, person.place_of_birth) == ("Anonymised", "", "")
    assert person.anonymised_at is not None
    assert person.date_of_birth.year == expired_case.person.date_of_birth.year
    assert (person.date_of_birth.month, person.date_of_birth.day) == (1, 1)
    assert person.sex == expired_case.person.sex
    assert not PersonName.objects.filter(person=person).exists()
    assert not PersonIdentifier.objects.filter(person=person).exists()
    assert set(CaseNote.objects.filter(case=expired_case).values_list("body", flat=True)) == {"[anonymised]"}
    # Free text that was there is replaced by the marker (which keeps every constraint).
    assert set(StageRecord.objects.filter(enrolment__case=expired_case).values_list("outcome", flat=True)) == {
        "[anonymised]"
    }
    # Stages, dates and statuses stay for the statistics.
    assert StageRecord.objects.filter(enrolment__case=expired_case).count() > 0

    # Not yet expired, and open: untouched.
    assert Person.objects.get(pk=recent.person_id).given_name == "Recentgiven"
    assert CaseNote.objects.get(case=recent).body == "Recent note (test)"
    open_note.refresh_from_db()
    assert open_note.body == "Open case note (test)"
    assert Person.objects.get(pk=case.person_id).anonymised_at is None

    # Running again finds nothing more.
    assert not retention.retention_plan()


def test_retention_leaves_the_report_numbers_as_they_were(programme, caseworker, expired_case, case):
    from programmes import workflow

    stage = StageRecord.objects.filter(enrolment__case=expired_case).order_by("stage_type__position").first()
    # The stage moved while the case was open: the workflow refuses any move on a closed case.
    closed_on = expired_case.closed_on
    Case.objects.filter(pk=expired_case.pk).update(status=CaseStatus.REOPENED, closed_on=None)
    workflow.stage_start(stage_id=stage.pk, by=caseworker)
    workflow.stage_complete(stage_id=stage.pk, by=caseworker, outcome="Done (test)")
    Case.objects.filter(pk=expired_case.pk).update(status=CaseStatus.CLOSED, closed_on=closed_on)
    period = reports.period_containing(timezone.localdate(), "weekly")
    before = reports.report_numbers(programme=programme, period=period)
    retention.retention_apply()
    after = reports.report_numbers(programme=programme, period=period)
    assert after == before


def test_a_reopened_case_is_not_anonymised(expired_case):
    Case.objects.filter(pk=expired_case.pk).update(status=CaseStatus.REOPENED, closed_on=None)
    assert not retention.retention_plan()


def test_a_person_with_another_case_kept_is_not_anonymised(programme, caseworker, expired_case):
    second = f.CaseFactory(person=expired_case.person, caseworker=caseworker, reference="N-EXP-2")
    f.enrol(second, programme, by=caseworker)
    plan = retention.retention_apply()
    assert plan.case_ids == [expired_case.pk] and plan.person_ids == []
    assert Person.objects.get(pk=expired_case.person_id).given_name == "Expiredgiven"


# --- Identifiers encrypted at rest ----------------------------------------------------------


def test_identifiers_are_encrypted_at_rest_and_found_by_exact_value(staff_client, case):
    PersonIdentifier.objects.create(person=case.person, kind="passport", value="N 1234567", issuing_country="KZ")
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, value_digest FROM casework_personidentifier")
        stored, digest = cursor.fetchone()
    assert "1234567" not in stored and stored.startswith("gAAAA")
    assert digest == identifier_digest("n1234567") and "1234567" not in digest
    assert PersonIdentifier.objects.get().value == "N 1234567"

    response = staff_client.get(reverse("admin:casework_case_changelist"), {"q": "n1234567"})
    assert case.reference in response.content.decode()
    response = staff_client.get(reverse("admin:casework_case_changelist"), {"q": "N123456"})
    assert case.reference not in response.content.decode()


def test_an_identifier_is_unique_whatever_its_ciphertext(case, other_case):
    PersonIdentifier.objects.create(person=case.person, kind="passport", value="N7654321", issuing_country="KZ")
    duplicate = PersonIdentifier(person=other_case.person, kind="passport", value="n 7654321", issuing_country="KZ")
    with pytest.raises(ValidationError, match="already recorded"):
        duplicate.full_clean()


# --- Consent --------------------------------------------------------------------------------


def test_a_childs_consent_must_come_from_a_guardian(caseworker):
    child = f.PersonFactory(date_of_birth=f.born_years_ago(9))
    consent = Consent(
        person=child, purpose="schooling", given_by="subject", given_on=timezone.localdate(), recorded_by=caseworker
    )
    with pytest.raises(ValidationError, match="parent or guardian"):
        consent.full_clean()
    consent.given_by = "guardian"
    consent.guardian_name = "Guardian (test)"
    consent.full_clean()


def test_consent_withdrawn_in_the_admin(staff_client, case, agency, caseworker):
    referral = f.ReferralFactory(case=case, agency=agency, referred_by=caseworker)
    response = staff_client.post(
        reverse("admin:casework_consent_changelist"),
        {"action": "withdraw_consent", "_selected_action": [referral.consent_id]},
        follow=True,
    )
    assert "withdrawn" in response.content.decode()
    assert Consent.objects.get(pk=referral.consent_id).withdrawn_on == timezone.localdate()
    with pytest.raises(services.TransitionNotAllowed):
        services.consent_withdraw(consent_id=referral.consent_id, by=caseworker)


# --- Archive instead of delete ----------------------------------------------------------------


def test_cases_are_archived_by_administrators_not_deleted(staff_client, administrator, caseworker, case):
    assert staff_client.post(reverse("admin:casework_case_delete", args=[case.pk]), {"post": "yes"}).status_code == 403
    assert Case.objects.filter(pk=case.pk).exists()
    with pytest.raises(PermissionError):
        services.case_archive(case_id=case.pk, by=caseworker)
    services.case_archive(case_id=case.pk, by=administrator)
    entry = entries_for(Case, action=A.UPDATE, object_id=case.pk).get()
    assert entry.actor == administrator and "archived_at" in entry.changes


# --- Subject access -------------------------------------------------------------------------------


def test_export_person_holds_everything_about_the_person(expired_case, caseworker):
    case = expired_case
    DocumentRequest.objects.create(
        stage=StageRecord.objects.filter(enrolment__case=case).first(),
        document_type="passport",
        status="requested",
        requested_on=D(2023, 3, 10),
        number="DOC-EXPORT-1",
    )
    case.person.family_name = "Changedova"
    case.person.save()
    out = io.StringIO()
    call_command("export_person", str(case.person_id), stdout=out)
    data = json.loads(out.getvalue())
    text = out.getvalue()
    assert data["person"]["family_name"] == "Changedova"
    assert {row["full_name"] for row in data["names"]} == {"Экспайред Пастова", "Umm Expired"}
    assert data["identifiers"][0]["value"] == "EXP-0001"
    assert [row["reference"] for row in data["cases"]] == ["N-EXP"]
    assert data["case_notes"][0]["body"] == "Talked about the past (test)"
    assert "DOC-EXPORT-1" in text
    assert len(data["stages"]) == StageRecord.objects.filter(enrolment__case=case).count()
    changes = [row for row in data["audit_trail"] if row["record"] == "casework.person" and row["action"] == "update"]
    assert changes and "family_name" in changes[0]["fields_changed"]
    # The export is itself a read of the person, through the command door.
    assert entries_for(Person, action=A.ACCESS, object_id=case.person_id, door="command").exists()


def test_export_person_of_an_unknown_id_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No person"):
        call_command("export_person", "999999")


def test_receiving_relatives_go_with_their_family_only_when_no_case_of_it_is_kept(
    programme, caseworker, expired_case, case
):
    from casework.models import Family, FamilyMembership

    gone = Family.objects.create(reference="F-GONE", label="Pastova household (test)")
    FamilyMembership.objects.create(family=gone, person=expired_case.person, relationship="head")
    grandmother = f.PersonFactory(given_name="Grandgiven")
    FamilyMembership.objects.create(
        family=gone, person=grandmother, relationship="grandparent", role="receiving_relative"
    )
    Case.objects.filter(pk=expired_case.pk).update(family=gone)

    kept = Family.objects.create(reference="F-KEPT", label="Kept household (test)")
    FamilyMembership.objects.create(family=kept, person=case.person, relationship="head")
    uncle = f.PersonFactory(given_name="Unclegiven")
    FamilyMembership.objects.create(family=kept, person=uncle, relationship="aunt_uncle", role="receiving_relative")
    Case.objects.filter(pk=case.pk).update(family=kept)
    # A relative in both households stays while one of them is kept.
    both = f.PersonFactory(given_name="Bothgiven")
    FamilyMembership.objects.create(family=gone, person=both, relationship="other_relative", role="receiving_relative")
    FamilyMembership.objects.create(family=kept, person=both, relationship="other_relative", role="receiving_relative")

    plan = retention.retention_apply()

    assert sorted(plan.person_ids) == sorted([expired_case.person_id, grandmother.pk])
    assert Person.objects.get(pk=grandmother.pk).given_name == "Anonymised"
    assert Person.objects.get(pk=uncle.pk).given_name == "Unclegiven"
    assert Person.objects.get(pk=both.pk).given_name == "Bothgiven"
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert kept.label == "Kept household (test)"
    # The household still has a living member (the relative in both): its label stays too.
    assert gone.label == "Pastova household (test)"
