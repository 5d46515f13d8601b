"""One gate for every door of the admin: forms, widgets, initial values, filters, actions.

Each test is named after a finding of the attacker's review and goes through the
door the finding used: the admin, as a caseworker of the other programme
(``caseworker2``), against the first programme's case.
"""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from core.errors import NotVisible
from casework.models import ClosureRequest, Consent, Family, FamilyMembership, PersonName, Referral
from core.roles import role_groups_sync
from notifications.models import Notification
from programmes import services as programme_services
from programmes.models import Enrolment, FollowUp, ProgrammeMembership, ProgrammeMembershipRole, StageRecord
from tests import factories as f
from tests.admin_forms import admin_form_data
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

SECRET_GIVEN = "Zarinaxq"
SECRET_FAMILY = "Hiddenova"
SECRET_ALIAS = "Umm Qwertyalias"


@pytest.fixture(autouse=True)
def groups(db):
    role_groups_sync()


def login(client, user, group="Caseworkers"):
    user.groups.add(Group.objects.get(name=group))
    return force_login(client, user)


@pytest.fixture
def north_case(case):
    """The first programme's case, its person carrying names that must never leak."""
    person = case.person
    person.given_name, person.family_name = SECRET_GIVEN, SECRET_FAMILY
    person.save()
    PersonName.objects.create(person=person, full_name=SECRET_ALIAS, script="latin", kind="alias")
    family = Family.objects.create(reference="FAM-NORTH-1", label="North family (test)")
    FamilyMembership.objects.create(family=family, person=person, relationship="head")
    case.family = family
    case.save()
    return case


def post_referral(client, case, agency, consent):
    """The admin's referral add form, as a caseworker fills it in."""
    return client.post(
        reverse("admin:casework_referral_add"),
        {
            "case": case.pk,
            "agency": agency.pk,
            "purpose": "psychosocial",
            "consent": consent.pk,
            "status": "pending",
            "referred_on": timezone.localdate().isoformat(),
        },
    )


def refused_entries():
    return AuditEntry.objects.filter(additional_data__refused=True)


# --- The admin's forms accept any row id ---------------------------------------------------------


def test_consent_add_form_with_another_programmes_person_prints_nothing_and_is_audited(
    client, other_caseworker, north_case
):
    login(client, other_caseworker)
    response = client.get(reverse("admin:casework_consent_add") + f"?person={north_case.person_id}")
    assert response.status_code == 200
    page = response.content.decode()
    assert SECRET_GIVEN not in page and SECRET_FAMILY not in page
    entry = refused_entries().get()
    assert entry.actor == other_caseworker and entry.object_id == north_case.person_id
    assert SECRET_GIVEN not in (entry.object_repr + str(entry.additional_data))


def test_enrolment_add_form_with_another_programmes_case_does_not_print_its_reference(
    client, other_caseworker, north_case
):
    login(client, other_caseworker)
    response = client.get(reverse("admin:programmes_enrolment_add") + f"?case={north_case.pk}")
    assert response.status_code == 200
    assert north_case.reference not in response.content.decode()
    assert refused_entries().filter(object_id=north_case.pk).exists()


def test_raw_id_widget_prints_only_rows_the_user_may_see(client, other_caseworker, other_case, north_case):
    login(client, other_caseworker)
    own = client.get(reverse("admin:programmes_enrolment_add") + f"?case={other_case.pk}").content.decode()
    assert other_case.reference in own


def test_caseworker_cannot_enrol_another_programmes_case_in_their_own(
    client, other_caseworker, other_programme, north_case
):
    login(client, other_caseworker)
    before = Enrolment.objects.count()
    response = client.post(
        reverse("admin:programmes_enrolment_add"),
        {
            "case": north_case.pk,
            "programme": other_programme.pk,
            "status": "active",
            "enrolled_on": timezone.localdate().isoformat(),
            "stages-TOTAL_FORMS": "0",
            "stages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert Enrolment.objects.count() == before
    assert north_case.reference not in response.content.decode()


def test_enrolment_service_refuses_a_case_the_user_may_not_see(other_caseworker, other_programme, north_case):
    with pytest.raises(NotVisible):
        programme_services.enrolment_create(case=north_case, programme=other_programme, by=other_caseworker)
    assert not Enrolment.objects.filter(case=north_case, programme=other_programme).exists()


def test_caseworker_cannot_set_their_case_family_to_another_programmes_family(
    client, other_caseworker, other_case, north_case
):
    login(client, other_caseworker)
    url = reverse("admin:casework_case_change", args=[other_case.pk])
    data = admin_form_data(client.get(url), family=str(north_case.family_id))
    response = client.post(url, data)
    assert response.status_code == 200
    other_case.refresh_from_db()
    assert other_case.family_id is None
    assert SECRET_GIVEN not in response.content.decode()


def test_caseworker_cannot_add_another_programmes_person_to_their_family(
    client, other_caseworker, other_case, north_case
):
    family = Family.objects.create(reference="FAM-SOUTH-1", label="South family (test)")
    FamilyMembership.objects.create(family=family, person=other_case.person, relationship="head")
    other_case.family = family
    other_case.save()
    login(client, other_caseworker)
    url = reverse("admin:casework_family_change", args=[family.pk])
    data = admin_form_data(client.get(url))
    data.update(
        {
            "memberships-TOTAL_FORMS": "2",
            "memberships-1-person": str(north_case.person_id),
            "memberships-1-relationship": "child",
            "memberships-1-role": "returnee",
            "memberships-1-family": str(family.pk),
        }
    )
    client.post(url, data)
    assert not FamilyMembership.objects.filter(family=family, person=north_case.person).exists()


def test_caseworker_cannot_record_consent_for_another_programmes_person(client, other_caseworker, agency, north_case):
    login(client, other_caseworker)
    response = client.post(
        reverse("admin:casework_consent_add"),
        {
            "person": north_case.person_id,
            "agency": agency.pk,
            "purpose": "psychosocial",
            "given_by": "subject",
            "given_on": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 200
    assert not Consent.objects.filter(person=north_case.person).exists()


def test_caseworker_cannot_refer_another_programmes_case_to_a_partner(
    client, other_caseworker, agency, partner, north_case
):
    consent = f.ConsentFactory(person=north_case.person, agency=agency)
    login(client, other_caseworker)
    response = post_referral(client, north_case, agency, consent)
    assert response.status_code == 200
    assert not Referral.objects.filter(case=north_case).exists()


def test_referral_made_in_the_admin_records_who_referred(client, caseworker, agency, case):
    consent = f.ConsentFactory(person=case.person, agency=agency)
    login(client, caseworker)
    response = post_referral(client, case, agency, consent)
    assert response.status_code == 302
    assert Referral.objects.get(case=case).referred_by == caseworker


def test_caseworker_cannot_file_a_closure_request_on_another_programmes_case(
    client, other_caseworker, supervisor, north_case
):
    login(client, other_caseworker)
    response = client.post(
        reverse("admin:casework_closurerequest_add"), {"case": north_case.pk, "reason": "Forged (test)."}, follow=True
    )
    assert not ClosureRequest.objects.exists()
    assert not Notification.objects.exists()
    assert north_case.reference not in response.content.decode()


# --- The caseworker field hands a case to anyone -------------------------------------------------


def test_case_caseworker_field_offers_only_the_programmes_staff(
    client, caseworker, other_caseworker, partner, administrator, case
):
    colleague = f.add_member(
        case.enrolments.get().programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER
    )
    login(client, caseworker)
    response = client.get(reverse("admin:casework_case_change", args=[case.pk]))
    offered = set(response.context["adminform"].form.fields["caseworker"].queryset)
    assert {caseworker, colleague} <= offered
    assert partner not in offered and other_caseworker not in offered and administrator not in offered


def test_case_cannot_be_handed_to_a_partner_through_the_caseworker_field(client, caseworker, partner, case):
    login(client, caseworker)
    url = reverse("admin:casework_case_change", args=[case.pk])
    response = client.post(url, admin_form_data(client.get(url), caseworker=str(partner.pk)))
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.caseworker == caseworker


def test_reassignment_moves_open_follow_ups_and_stages_to_the_new_caseworker(client, caseworker, supervisor, case):
    programme = case.enrolments.get().programme
    colleague = f.add_member(programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER)
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    done_stage = StageRecord.objects.filter(enrolment__case=case).exclude(pk=stage.pk).first()
    StageRecord.objects.filter(pk=done_stage.pk).update(
        status="completed", started_on=timezone.localdate(), completed_on=timezone.localdate(), outcome="Done (test)."
    )
    open_follow_up = FollowUp.objects.create(
        stage=stage, kind="visit", due_date=timezone.localdate(), assignee=caseworker
    )
    done_follow_up = FollowUp.objects.create(
        stage=stage,
        kind="visit",
        due_date=timezone.localdate() - datetime.timedelta(days=3),
        assignee=caseworker,
        done_on=timezone.localdate(),
        outcome="Seen (test).",
    )
    login(client, supervisor, group="Supervisors")
    url = reverse("admin:casework_case_change", args=[case.pk])
    response = client.post(url, admin_form_data(client.get(url), caseworker=str(colleague.pk)))
    assert response.status_code == 302
    case.refresh_from_db()
    stage.refresh_from_db()
    done_stage.refresh_from_db()
    open_follow_up.refresh_from_db()
    done_follow_up.refresh_from_db()
    assert case.caseworker == colleague
    assert stage.responsible_user == colleague and open_follow_up.assignee == colleague
    # What was done stays with who did it.
    assert done_stage.responsible_user == caseworker and done_follow_up.assignee == caseworker
    assert AuditEntry.objects.filter(content_type__model="followup", object_id=open_follow_up.pk, action=1).exists()


# --- Admin actions check their permission ---------------------------------------------------------


def test_install_catalogue_action_is_refused_to_a_view_only_caseworker(client, caseworker, programme):
    stage_type = programme.stage_types.first()
    stage_type.name = "Renamed by the administrator (test)"
    stage_type.save()
    login(client, caseworker)
    changelist = reverse("admin:programmes_programme_changelist")
    assert "install_standard_catalogue" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "install_standard_catalogue", "_selected_action": [programme.pk]})
    stage_type.refresh_from_db()
    assert stage_type.name == "Renamed by the administrator (test)"


# --- User dropdowns and filters list only the programme's staff ------------------------------------


def test_case_list_caseworker_filter_lists_only_the_programmes_staff(
    client, caseworker, other_caseworker, partner, administrator, case
):
    login(client, caseworker)
    response = client.get(reverse("admin:casework_case_changelist") + "?mine=all")
    page = response.content.decode()
    assert f"caseworker={caseworker.pk}" in page
    for outsider in (other_caseworker, partner, administrator):
        assert f"caseworker={outsider.pk}&" not in page and f'caseworker={outsider.pk}"' not in page


def test_follow_up_assignee_filter_and_field_offer_only_the_programmes_staff(
    client, caseworker, other_caseworker, partner, case
):
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    follow_up = FollowUp.objects.create(stage=stage, kind="visit", due_date=timezone.localdate(), assignee=caseworker)
    login(client, caseworker)
    response = client.get(reverse("admin:programmes_followup_change", args=[follow_up.pk]))
    offered = set(response.context["adminform"].form.fields["assignee"].queryset)
    assert caseworker in offered and partner not in offered and other_caseworker not in offered


# --- Staff see the same sensitive details through every admin door ---------------------------------


def test_admin_search_does_not_match_an_alias_the_case_page_hides(client, caseworker, north_case):
    colleague = f.add_member(
        north_case.enrolments.get().programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER
    )
    login(client, colleague)
    for name in ("casework_case", "casework_person"):
        response = client.get(reverse(f"admin:{name}_changelist") + "?mine=all&q=Qwertyalias")
        assert north_case.reference not in response.content.decode(), name
    # The case's own caseworker may see it, and finds it.
    login(client, caseworker)
    response = client.get(reverse("admin:casework_case_changelist") + "?mine=all&q=Qwertyalias")
    assert north_case.reference in response.content.decode()


# --- Refused reads leave a trace --------------------------------------------------------------------


def test_refused_admin_change_page_is_audited_without_personal_data(client, other_caseworker, north_case):
    login(client, other_caseworker)
    response = client.get(reverse("admin:casework_case_change", args=[north_case.pk]), follow=True)
    assert north_case.reference not in response.content.decode()
    entry = refused_entries().get(content_type__model="case")
    assert entry.actor == other_caseworker and entry.object_id == north_case.pk
    assert north_case.reference not in entry.object_repr


def test_removed_membership_ends_admin_access_on_the_next_request(client, caseworker, case):
    login(client, caseworker)
    url = reverse("admin:casework_case_change", args=[case.pk])
    assert client.get(url).status_code == 200
    ProgrammeMembership.objects.filter(user=caseworker).delete()
    response = client.get(url, follow=True)
    assert case.reference not in response.content.decode()


# --- A closed case starts no new work through any door ---------------------------------------------


@pytest.fixture
def closed_case(case, caseworker, supervisor):
    from lifecycle import closure

    request = closure.case_closure_request(case_id=case.pk, by=caseworker, reason="Settled (test).")
    closure.case_closure_decide(request_id=request.pk, by=supervisor, approve=True)
    case.refresh_from_db()
    return case


def test_a_closed_case_is_not_referred_in_the_admin(client, caseworker, agency, closed_case):
    consent = f.ConsentFactory(person=closed_case.person, agency=agency)
    login(client, caseworker)
    response = post_referral(client, closed_case, agency, consent)
    assert response.status_code == 200
    assert "This case is closed" in response.content.decode()
    assert not Referral.objects.filter(case=closed_case).exists()


def test_a_closed_case_is_not_enrolled_again_in_the_admin(client, caseworker, programme, closed_case):
    login(client, caseworker)
    before = Enrolment.objects.filter(case=closed_case).count()
    response = client.post(
        reverse("admin:programmes_enrolment_add"),
        {
            "case": closed_case.pk,
            "programme": programme.pk,
            "enrolled_on": timezone.localdate().isoformat(),
            "stages-TOTAL_FORMS": "0",
            "stages-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "This case is closed" in response.content.decode()
    assert Enrolment.objects.filter(case=closed_case).count() == before
