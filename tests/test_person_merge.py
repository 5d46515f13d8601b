"""Merging two records of one person (issue #14): the service, the admin's action and
the old links through both doors. Every name here is fictional."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditEntry
from casework.models import (
    Case,
    CaseNote,
    CaseStatus,
    CaseStatusChange,
    Consent,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
)
from casework.selectors import person_visible_to
from core.errors import NotVisible, TransitionNotAllowed
from core.roles import role_groups_sync
from lifecycle.merge import persons_merge
from lifecycle.retention import ANONYMISED_NAME, retention_apply
from lifecycle.subject_access import person_export
from programmes.models import Enrolment, ProgrammeMembershipRole, StageRecord
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

KEPT_GIVEN = "Fictiona"
DUPLICATE_GIVEN = "Fiktiona"
CYRILLIC_SPELLING = "Фиктиона Самплова"
ARABIC_SPELLING = "فيكتيونا سامبلوفا"
ALIAS = "Umm Fictitious"
PASSPORT = "PFICT0001"
NATIONAL_ID = "NFICT0002"
TEN_YEARS_AGO = timezone.localdate() - datetime.timedelta(days=3650)


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


@pytest.fixture
def world(case, caseworker, programme):
    """The record kept (the person of the open case N-0001) and a duplicate with a
    closed case N-0002 of the same programme, names, identifiers, families and a consent."""
    keep = case.person
    keep.given_name = KEPT_GIVEN
    keep.save()
    PersonName.objects.create(person=keep, full_name=f"{KEPT_GIVEN} Samplova", script="latin", kind="primary")
    PersonName.objects.create(person=keep, full_name=CYRILLIC_SPELLING, script="cyrillic", kind="spelling")
    PersonIdentifier.objects.create(person=keep, kind="national_id", value=NATIONAL_ID, issuing_country="KZ")

    duplicate = f.PersonFactory(given_name=DUPLICATE_GIVEN, date_of_birth=keep.date_of_birth)
    PersonName.objects.create(person=duplicate, full_name=f"{DUPLICATE_GIVEN} Samplova", script="latin", kind="primary")
    PersonName.objects.create(person=duplicate, full_name=CYRILLIC_SPELLING, script="cyrillic", kind="spelling")
    PersonName.objects.create(person=duplicate, full_name=ARABIC_SPELLING, script="arabic", kind="spelling")
    PersonName.objects.create(person=duplicate, full_name=ALIAS, script="latin", kind="alias")
    PersonIdentifier.objects.create(person=duplicate, kind="passport", value=PASSPORT, issuing_country="KZ")
    # The same national number, typed without its country on the duplicate.
    PersonIdentifier.objects.create(person=duplicate, kind="national_id", value=NATIONAL_ID, issuing_country="")

    shared = Family.objects.create(reference="FAM-MERGE-1", label="Shared household (test)")
    FamilyMembership.objects.create(family=shared, person=duplicate, relationship="head")
    FamilyMembership.objects.create(family=shared, person=keep, relationship="child")
    own = Family.objects.create(reference="FAM-MERGE-2", label="Other household (test)")
    FamilyMembership.objects.create(family=own, person=duplicate, relationship="child")
    consent = f.ConsentFactory(person=duplicate, recorded_by=caseworker, given_by="subject")

    old_case = f.CaseFactory(
        person=duplicate,
        reference="N-0002",
        caseworker=caseworker,
        arrival_date=TEN_YEARS_AGO - datetime.timedelta(days=5),
        opened_on=TEN_YEARS_AGO - datetime.timedelta(days=5),
    )
    enrolment = f.enrol(old_case, programme, by=caseworker)
    CaseNote.objects.create(case=old_case, author=caseworker, body="Fictional note.")
    old_case.status = CaseStatus.CLOSED
    old_case.closed_on = TEN_YEARS_AGO
    old_case.save()
    CaseStatusChange.objects.create(case=old_case, from_status="open", to_status="closed", by=caseworker)
    return {
        "keep": keep,
        "duplicate": duplicate,
        "shared": shared,
        "own": own,
        "consent": consent,
        "old_case": old_case,
        "enrolment": enrolment,
    }


def admin_client(client, user, group):
    user.groups.add(Group.objects.get(name=group))
    return force_login(client, user)


def api_client(user) -> APIClient:
    client = APIClient()
    _instance, token = AuthToken.objects.create(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def other_supervisor(other_programme):
    return f.add_member(other_programme, f.UserFactory(username="supervisor2"), ProgrammeMembershipRole.SUPERVISOR)


def snapshot(*people):
    """Everything a merge could change, to show that a refusal wrote nothing."""
    ids = [person.pk for person in people]
    return (
        AuditEntry.objects.exclude(action=AuditEntry.Action.ACCESS).count(),
        sorted(PersonName.objects.filter(person_id__in=ids).values_list("pk", "person_id", "kind")),
        sorted(PersonIdentifier.objects.filter(person_id__in=ids).values_list("pk", "person_id")),
        sorted(FamilyMembership.objects.filter(person_id__in=ids).values_list("pk", "person_id")),
        sorted(Consent.objects.filter(person_id__in=ids).values_list("pk", "person_id")),
        sorted(Case.objects.filter(person_id__in=ids).values_list("pk", "person_id")),
        sorted(Person.objects.filter(pk__in=ids).values_list("pk", "given_name", "merged_into_id")),
    )


# --- The service ---------------------------------------------------------------------------------


def test_everything_moves_to_the_kept_record_and_the_trail_names_the_actor(world, administrator):
    keep, duplicate = world["keep"], world["duplicate"]
    kept = persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)

    assert kept.pk == keep.pk
    names = set(keep.names.values_list("full_name", "kind"))
    assert names == {
        (f"{KEPT_GIVEN} Samplova", "primary"),
        (CYRILLIC_SPELLING, "spelling"),
        (f"{DUPLICATE_GIVEN} Samplova", "spelling"),  # the duplicate's primary name, now another spelling
        (ARABIC_SPELLING, "spelling"),
        (ALIAS, "alias"),
    }
    assert set(keep.identifiers.values_list("kind", flat=True)) == {"national_id", "passport"}
    assert set(keep.family_memberships.values_list("family__reference", flat=True)) == {"FAM-MERGE-1", "FAM-MERGE-2"}
    # The duplicate headed the shared household: the kept record heads it now.
    assert keep.family_memberships.get(family=world["shared"]).relationship == "head"
    assert list(keep.consents.values_list("pk", flat=True)) == [world["consent"].pk]
    old_case = world["old_case"]
    old_case.refresh_from_db()
    assert old_case.person_id == keep.pk
    assert set(keep.cases.values_list("reference", flat=True)) == {"N-0001", "N-0002"}
    # The case's history travels with it.
    assert Enrolment.objects.get(pk=world["enrolment"].pk).case_id == old_case.pk
    assert StageRecord.objects.filter(enrolment__case=old_case).exists()
    assert old_case.notes.count() == 1 and old_case.status_changes.count() == 1

    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == keep.pk
    assert duplicate.given_name == ANONYMISED_NAME and duplicate.family_name == ""
    assert duplicate.date_of_birth == keep.date_of_birth.replace(month=1, day=1)
    assert not duplicate.names.exists() and not duplicate.identifiers.exists()
    assert not duplicate.family_memberships.exists() and not duplicate.consents.exists()

    moved_case_entry = AuditEntry.objects.filter(object_id=old_case.pk, content_type__model="case").latest("pk")
    assert moved_case_entry.actor == administrator and "person" in moved_case_entry.changes
    merge_entry = AuditEntry.objects.get(additional_data__merge__kept=keep.pk)
    assert merge_entry.actor == administrator
    assert merge_entry.additional_data["merge"] == {"kept": keep.pk, "merged": duplicate.pk}
    assert f"|{keep.pk}|" in merge_entry.persons and f"|{duplicate.pk}|" in merge_entry.persons
    pointer_entry = AuditEntry.objects.filter(object_id=duplicate.pk, content_type__model="person").filter(
        changes__icontains="merged_into"
    )
    assert pointer_entry.filter(action=AuditEntry.Action.UPDATE).get().actor == administrator
    written = " ".join(
        str(entry.changes) + entry.object_repr + str(entry.additional_data)
        for entry in AuditEntry.objects.filter(actor=administrator)
    )
    for name in (DUPLICATE_GIVEN, KEPT_GIVEN, CYRILLIC_SPELLING, ARABIC_SPELLING, ALIAS, PASSPORT):
        assert name not in written


def test_a_spelling_identifier_or_family_already_on_the_kept_record_is_not_duplicated(world, administrator):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)
    assert keep.names.filter(full_name=CYRILLIC_SPELLING).count() == 1
    assert keep.names.filter(full_name=f"{DUPLICATE_GIVEN} Samplova").count() == 1
    assert keep.identifiers.filter(kind="national_id").count() == 1
    assert FamilyMembership.objects.filter(family=world["shared"], person=keep).count() == 1
    assert world["shared"].memberships.count() == 1


def test_the_same_record_twice_is_refused_and_nothing_is_written(world, administrator):
    keep = world["keep"]
    before = snapshot(keep, world["duplicate"])
    with pytest.raises(ValidationError):
        persons_merge(keep_id=keep.pk, merge_id=keep.pk, by=administrator)
    assert snapshot(keep, world["duplicate"]) == before


def test_a_record_already_merged_is_refused_either_way_and_nothing_is_written(world, administrator):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)
    third = f.PersonFactory(given_name="Thirdfiction")
    before = snapshot(keep, duplicate, third)
    for keep_id, merge_id in ((third.pk, duplicate.pk), (duplicate.pk, third.pk)):
        with pytest.raises(TransitionNotAllowed):
            persons_merge(keep_id=keep_id, merge_id=merge_id, by=administrator)
    assert snapshot(keep, duplicate, third) == before


def test_two_open_cases_are_refused_and_nothing_is_written(world, administrator, programme, caseworker):
    keep = world["keep"]
    second = f.CaseFactory(reference="N-0003", caseworker=caseworker)
    f.enrol(second, programme, by=caseworker)
    before = snapshot(keep, second.person)
    with pytest.raises(TransitionNotAllowed):
        persons_merge(keep_id=keep.pk, merge_id=second.person.pk, by=administrator)
    assert snapshot(keep, second.person) == before


def test_unknown_ids_are_answered_as_missing(world, administrator):
    with pytest.raises(NotVisible):
        persons_merge(keep_id=world["keep"].pk, merge_id=987654321, by=administrator)
    with pytest.raises(NotVisible):
        persons_merge(keep_id=world["keep"].pk, merge_id="not-a-number", by=administrator)


def test_caseworkers_and_partners_never_merge(world, caseworker, partner):
    keep, duplicate = world["keep"], world["duplicate"]
    before = snapshot(keep, duplicate)
    for user in (caseworker, partner):
        with pytest.raises(TransitionNotAllowed):
            persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=user)
    assert snapshot(keep, duplicate) == before


def test_a_supervisor_of_another_programme_may_not_merge_people_they_cannot_see(world, other_programme):
    outsider = other_supervisor(other_programme)
    before = snapshot(world["keep"], world["duplicate"])
    with pytest.raises(NotVisible):
        persons_merge(keep_id=world["keep"].pk, merge_id=world["duplicate"].pk, by=outsider)
    assert snapshot(world["keep"], world["duplicate"]) == before


def test_a_supervisor_may_not_merge_in_a_case_of_another_programme(world, supervisor, other_case):
    """Both people seen through the supervisor's family, one with a case they cannot see."""
    FamilyMembership.objects.create(family=world["own"], person=other_case.person, relationship="sibling")
    world["old_case"].family = world["own"]
    world["old_case"].save()
    assert person_visible_to(supervisor).filter(pk=other_case.person.pk).exists()
    before = snapshot(world["keep"], other_case.person)
    with pytest.raises(NotVisible):
        persons_merge(keep_id=world["keep"].pk, merge_id=other_case.person.pk, by=supervisor)
    assert snapshot(world["keep"], other_case.person) == before


def test_a_caseworker_here_who_supervises_elsewhere_may_not_merge_here(world, caseworker, other_programme):
    f.add_member(other_programme, caseworker, ProgrammeMembershipRole.SUPERVISOR)
    before = snapshot(world["keep"], world["duplicate"])
    with pytest.raises(NotVisible):
        persons_merge(keep_id=world["keep"].pk, merge_id=world["duplicate"].pk, by=caseworker)
    assert snapshot(world["keep"], world["duplicate"]) == before


def test_a_supervisor_merges_people_of_their_programme(world, supervisor):
    persons_merge(keep_id=world["keep"].pk, merge_id=world["duplicate"].pk, by=supervisor)
    world["duplicate"].refresh_from_db()
    assert world["duplicate"].merged_into_id == world["keep"].pk
    assert AuditEntry.objects.get(additional_data__merge__kept=world["keep"].pk).actor == supervisor


# --- The admin -----------------------------------------------------------------------------------


def changelist_post(client, people, **extra):
    return client.post(
        reverse("admin:casework_person_changelist"),
        {"action": "merge_people", "_selected_action": [person.pk for person in people], **extra},
    )


def test_the_admin_asks_which_record_to_keep_then_merges(client, world, supervisor):
    keep, duplicate = world["keep"], world["duplicate"]
    admin_client(client, supervisor, "Supervisors")
    page = client.get(reverse("admin:casework_person_changelist"))
    assert "merge_people" in page.content.decode()

    confirmation = changelist_post(client, [keep, duplicate])
    assert confirmation.status_code == 200
    text = confirmation.content.decode()
    for shown in (CYRILLIC_SPELLING, ARABIC_SPELLING, "N-0001", "N-0002", str(keep.date_of_birth.year)):
        assert shown in text
    assert 'name="keep"' in text
    assert Person.objects.filter(merged_into__isnull=False).count() == 0

    done = changelist_post(client, [keep, duplicate], apply="1", keep=str(keep.pk), follow=False)
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:casework_person_change", args=[keep.pk])
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == keep.pk
    shown = client.get(done["Location"])
    messages = [str(message) for message in shown.context["messages"]]
    assert any(f"merged into record {keep.pk}" in message for message in messages)
    assert not any(KEPT_GIVEN in message or DUPLICATE_GIVEN in message for message in messages)


def test_a_refusal_in_the_admin_is_a_message_and_writes_nothing(client, world, administrator, programme, caseworker):
    second = f.CaseFactory(reference="N-0003", caseworker=caseworker)
    f.enrol(second, programme, by=caseworker)
    admin_client(client, administrator, "Administrators")
    before = snapshot(world["keep"], second.person)
    response = changelist_post(client, [world["keep"], second.person], apply="1", keep=str(world["keep"].pk))
    assert response.status_code == 302
    assert snapshot(world["keep"], second.person) == before


def test_caseworkers_are_not_offered_the_action_and_a_forged_post_merges_nothing(client, world, caseworker):
    admin_client(client, caseworker, "Caseworkers")
    page = client.get(reverse("admin:casework_person_changelist"))
    assert page.status_code == 200 and "merge_people" not in page.content.decode()
    before = snapshot(world["keep"], world["duplicate"])
    changelist_post(client, [world["keep"], world["duplicate"]], apply="1", keep=str(world["keep"].pk))
    assert snapshot(world["keep"], world["duplicate"]) == before


def test_a_partner_cannot_merge_through_the_admin(client, world, partner):
    client.force_login(partner)
    before = snapshot(world["keep"], world["duplicate"])
    response = changelist_post(client, [world["keep"], world["duplicate"]], apply="1", keep=str(world["keep"].pk))
    assert response.status_code in (302, 403)
    assert snapshot(world["keep"], world["duplicate"]) == before


def test_a_forged_post_of_another_programmes_people_merges_nothing(client, world, other_programme):
    outsider = other_supervisor(other_programme)
    admin_client(client, outsider, "Supervisors")
    before = snapshot(world["keep"], world["duplicate"])
    changelist_post(client, [world["keep"], world["duplicate"]], apply="1", keep=str(world["keep"].pk))
    assert snapshot(world["keep"], world["duplicate"]) == before


def test_the_old_admin_link_leads_to_the_kept_record(client, world, administrator, other_programme):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)
    admin_client(client, administrator, "Administrators")
    response = client.get(reverse("admin:casework_person_change", args=[duplicate.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:casework_person_change", args=[keep.pk])

    client.logout()
    outsider = other_supervisor(other_programme)
    admin_client(client, outsider, "Supervisors")
    response = client.get(reverse("admin:casework_person_change", args=[duplicate.pk]))
    assert response.get("Location") != reverse("admin:casework_person_change", args=[keep.pk])


def test_the_merged_record_is_gone_from_the_admin_list_search_and_pickers(client, world, administrator):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)
    admin_client(client, administrator, "Administrators")
    changelist = reverse("admin:casework_person_changelist")
    listed = client.get(changelist).context["cl"].result_list
    assert keep in listed and duplicate not in listed
    found = client.get(changelist, {"q": ANONYMISED_NAME}).context["cl"].result_list
    assert duplicate not in found
    found = client.get(changelist, {"q": "Samplova"}).context["cl"].result_list
    assert duplicate not in found and keep in found
    picked = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "casework", "model_name": "case", "field_name": "person", "term": ""},
    ).json()
    ids = {int(row["id"]) for row in picked["results"]}
    assert keep.pk in ids and duplicate.pk not in ids
    assert not person_visible_to(administrator).filter(pk=duplicate.pk).exists()


# --- The API -------------------------------------------------------------------------------------


def test_the_old_api_id_answers_301_to_the_kept_record(world, administrator, supervisor, other_caseworker):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)
    for user in (administrator, supervisor):
        response = api_client(user).get(f"/api/v1/persons/{duplicate.pk}/")
        assert response.status_code == 301
        assert response["Location"].endswith(f"/api/v1/persons/{keep.pk}/")
    assert api_client(other_caseworker).get(f"/api/v1/persons/{duplicate.pk}/").status_code == 404
    assert api_client(administrator).get(f"/api/v1/persons/{keep.pk}/").status_code == 200


def test_api_lists_and_searches_never_show_the_merged_record(world, administrator):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)
    client = api_client(administrator)
    listed = {row["id"] for row in client.get("/api/v1/persons/", {"page_size": 100}).json()["results"]}
    assert keep.pk in listed and duplicate.pk not in listed
    for name in (ANONYMISED_NAME, "Samplova"):
        found = client.post("/api/v1/persons/search/", {"name": name}, format="json").json()["results"]
        assert duplicate.pk not in {row["id"] for row in found}


# --- Data protection on the kept record ----------------------------------------------------------


def test_subject_access_and_retention_work_on_a_kept_record_with_merged_history(world, administrator):
    keep, duplicate = world["keep"], world["duplicate"]
    persons_merge(keep_id=keep.pk, merge_id=duplicate.pk, by=administrator)

    export = person_export(person=keep)
    assert {row["reference"] for row in export["cases"]} == {"N-0001", "N-0002"}
    assert any(row["full_name"] == ARABIC_SPELLING for row in export["names"])
    assert len(export["consents"]) == 1
    assert any(entry["fields_changed"] == ["merged_from"] for entry in export["audit_trail"])

    # The merged-in case closed ten years ago: retention erases it; the kept person,
    # whose case N-0001 is open, stays.
    result = retention_apply(today=timezone.localdate())
    assert result.failures == []
    old_case = Case.objects.get(reference="N-0002")
    assert old_case.anonymised_at is not None
    keep.refresh_from_db()
    assert keep.anonymised_at is None and keep.given_name == KEPT_GIVEN
