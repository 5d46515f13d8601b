"""Transfers between programmes (``lifecycle.transfer``): who may ask and who may decide, what
moves with the case and what the sending programme keeps, through the service, the API and
the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditEntry
from casework.models import CaseNote
from casework.selectors import case_visible_to
from core.errors import NotVisible, TransitionNotAllowed
from core.roles import role_groups_sync
from justice.models import LegalProceeding
from justice.selectors import proceeding_visible_to
from lifecycle import transfer
from lifecycle.models import TransferCarryOver, TransferRequest, TransferStatus
from lifecycle.subject_access import person_export
from programmes import workflow
from programmes.models import EnrolmentStatus, FollowUp, ProgrammeMembershipRole, StageRecord, StageStatus
from programmes.selectors import stage_visible_to
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

REASON = "The family moves south to live with relatives (test)."


@pytest.fixture
def receiving_supervisor(other_programme):
    return f.add_member(other_programme, f.UserFactory(username="supervisor2"), ProgrammeMembershipRole.SUPERVISOR)


@pytest.fixture
def legal_officer(programme):
    return f.add_member(programme, f.UserFactory(username="legal"), ProgrammeMembershipRole.LEGAL_OFFICER)


@pytest.fixture
def worked_case(case, caseworker):
    """The world's case with some history: accommodation done, psychological care under way
    with a follow-up, a note and a consent."""
    today = case.enrolments.get().programme.local_today()
    stages = {s.stage_type.code: s for s in StageRecord.objects.filter(enrolment__case=case)}
    workflow.stage_start(stage_id=stages["accommodation"].pk, by=caseworker, on=case.arrival_date)
    workflow.stage_complete(stage_id=stages["accommodation"].pk, by=caseworker, outcome="Left the centre.", on=today)
    workflow.stage_start(stage_id=stages["psychological"].pk, by=caseworker, on=today)
    CaseNote.objects.create(case=case, author=caseworker, body="Settling in well (test).")
    f.ConsentFactory(person=case.person, purpose="psychosocial", recorded_by=caseworker)
    return case


def ask(case, by, programme):
    return transfer.transfer_request_create(case_id=case.pk, to_programme_id=programme.pk, by=by, reason=REASON)


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user)[1]}")
    return client


# --- who asks, who decides -----------------------------------------------------------------


def test_the_caseworker_or_the_sending_supervisor_asks_and_no_one_else(
    worked_case, caseworker, supervisor, other_caseworker, other_programme, programme
):
    colleague = f.add_member(programme, f.UserFactory(username="colleague"), ProgrammeMembershipRole.CASEWORKER)
    with pytest.raises(NotVisible):
        ask(worked_case, other_caseworker, other_programme)
    with pytest.raises(TransitionNotAllowed):
        ask(worked_case, colleague, other_programme)
    with pytest.raises(ValidationError) as refused:
        ask(worked_case, caseworker, programme)
    assert "to_programme" in refused.value.message_dict
    request = ask(worked_case, supervisor, other_programme)
    assert (request.from_programme, request.to_programme, request.requested_by) == (
        programme,
        other_programme,
        supervisor,
    )
    with pytest.raises(TransitionNotAllowed):
        ask(worked_case, caseworker, other_programme)
    assert TransferRequest.objects.count() == 1


def test_only_a_supervisor_of_the_receiving_programme_decides(
    worked_case, caseworker, supervisor, administrator, other_caseworker, other_programme, receiving_supervisor
):
    request = ask(worked_case, caseworker, other_programme)
    for someone in (supervisor, administrator, other_caseworker):
        with pytest.raises(TransitionNotAllowed):
            transfer.transfer_request_decide(
                request_id=request.pk, by=someone, accept=True, carry_over=TransferCarryOver.CARRY_OPEN
            )
    with pytest.raises(ValidationError):
        transfer.transfer_request_decide(request_id=request.pk, by=receiving_supervisor, accept=False)
    refused = transfer.transfer_request_decide(
        request_id=request.pk, by=receiving_supervisor, accept=False, comment="No place in our centre (test)."
    )
    assert refused.status == TransferStatus.REFUSED
    assert worked_case.enrolments.get().status == EnrolmentStatus.ACTIVE
    assert worked_case in case_visible_to(caseworker)


# --- what acceptance does --------------------------------------------------------------------


def test_acceptance_carrying_the_open_stages_over(
    worked_case, caseworker, supervisor, other_programme, other_caseworker, receiving_supervisor, programme
):
    sending = worked_case.enrolments.get()
    psychological = StageRecord.objects.get(enrolment=sending, stage_type__code="psychological")
    follow_ups = set(FollowUp.objects.filter(stage=psychological).values_list("pk", flat=True))
    assert follow_ups
    open_follow_ups = FollowUp.objects.filter(
        stage__enrolment=sending, done_on__isnull=True, cancelled_on__isnull=True
    ).count()
    # The receiving catalogue has no documents stage: that one is discontinued, not carried.
    other_programme.stage_types.filter(code="documents").update(is_active=False)
    request = ask(worked_case, caseworker, other_programme)

    accepted = transfer.transfer_request_decide(
        request_id=request.pk,
        by=receiving_supervisor,
        accept=True,
        carry_over=TransferCarryOver.CARRY_OPEN,
        caseworker=other_caseworker,
        comment="Welcome (test).",
    )

    sending.refresh_from_db()
    receiving = worked_case.enrolments.get(programme=other_programme)
    assert sending.status == EnrolmentStatus.TRANSFERRED and sending.ended_on
    assert receiving.status == EnrolmentStatus.ACTIVE
    # The stage under way moved with its status, start and follow-ups, to the receiving type.
    psychological.refresh_from_db()
    assert psychological.enrolment == receiving and psychological.status == StageStatus.ACTIVE
    assert psychological.stage_type.programme == other_programme
    assert set(FollowUp.objects.filter(stage=psychological).values_list("pk", flat=True)) == follow_ups
    # What the person has been through stays in the sending enrolment, and is not planned again.
    assert sending.stages.get(stage_type__code="accommodation").status == StageStatus.COMPLETED
    assert not receiving.stages.filter(stage_type__code="accommodation").exists()
    assert sending.stages.get(stage_type__code="documents").status == StageStatus.DISCONTINUED
    assert set(receiving.stages.values_list("stage_type__code", flat=True)) == {
        "psychological",
        "housing",
        "employment",
    }
    # The receiving caseworker takes the case and its open work over.
    worked_case.refresh_from_db()
    assert worked_case.caseworker == other_caseworker
    assert set(receiving.stages.values_list("responsible_user", flat=True)) == {other_caseworker.pk}

    # The receiving staff see the case with its history, notes and consents; the sending staff no longer do.
    assert worked_case in case_visible_to(other_caseworker) and worked_case in case_visible_to(receiving_supervisor)
    assert sending.stages.get(stage_type__code="accommodation") in stage_visible_to(other_caseworker)
    for former in (caseworker, supervisor):
        assert worked_case not in case_visible_to(former)
        assert not stage_visible_to(former).filter(enrolment__case=worked_case).exists()
    # The sending staff keep the record of what they handed over, and when.
    record = transfer.transfer_requests_visible_to(caseworker).get(pk=request.pk).handed_over
    assert record["case"] == worked_case.reference and record["to_programme"] == other_programme.code
    assert {s["code"]: s["status"] for s in record["stages"]}["accommodation"] == "completed"
    assert record["open_follow_ups"] == open_follow_ups and record["notes"] == 1
    assert [c["purpose"] for c in record["consents"]] == ["psychosocial"]
    assert record["handed_over_at"] and accepted.carry_over == TransferCarryOver.CARRY_OPEN
    # Audited as the receiving supervisor.
    assert AuditEntry.objects.filter(
        actor=receiving_supervisor, content_type__model="transferrequest", object_pk=str(request.pk)
    ).exists()
    assert AuditEntry.objects.filter(
        actor=receiving_supervisor, content_type__model="enrolment", object_pk=str(sending.pk)
    ).exists()


def test_acceptance_closing_the_open_stages_and_starting_the_receiving_plan(
    worked_case, caseworker, other_programme, receiving_supervisor
):
    sending = worked_case.enrolments.get()
    open_before = set(sending.stages.filter(status__in=("planned", "active")).values_list("pk", flat=True))
    request = ask(worked_case, caseworker, other_programme)
    transfer.transfer_request_decide(
        request_id=request.pk, by=receiving_supervisor, accept=True, carry_over=TransferCarryOver.RESTART
    )
    sending.refresh_from_db()
    assert sending.status == EnrolmentStatus.TRANSFERRED
    assert set(sending.stages.filter(status="discontinued").values_list("pk", flat=True)) == open_before
    assert not FollowUp.objects.filter(stage__enrolment=sending, done_on__isnull=True, cancelled_on__isnull=True)
    receiving = worked_case.enrolments.get(programme=other_programme)
    # The receiving catalogue's whole plan for an adult, from its own stage types.
    assert set(receiving.stages.values_list("stage_type__code", flat=True)) == {
        "accommodation",
        "psychological",
        "documents",
        "housing",
        "employment",
    }
    assert set(receiving.stages.values_list("status", flat=True)) == {"planned"}
    worked_case.refresh_from_db()
    assert worked_case.caseworker == receiving_supervisor


def test_the_sending_legal_officer_loses_the_proceedings_and_the_receiving_supervisor_gets_them(
    worked_case, caseworker, other_programme, receiving_supervisor, legal_officer
):
    proceeding = LegalProceeding.objects.create(case=worked_case, stage="charged", opened_on=worked_case.arrival_date)
    assert proceeding in proceeding_visible_to(legal_officer)
    request = ask(worked_case, caseworker, other_programme)
    transfer.transfer_request_decide(
        request_id=request.pk, by=receiving_supervisor, accept=True, carry_over=TransferCarryOver.CARRY_OPEN
    )
    assert proceeding not in proceeding_visible_to(legal_officer)
    assert proceeding in proceeding_visible_to(receiving_supervisor)


def test_a_decided_request_is_not_decided_again(worked_case, caseworker, other_programme, receiving_supervisor):
    request = ask(worked_case, caseworker, other_programme)
    transfer.transfer_request_decide(
        request_id=request.pk, by=receiving_supervisor, accept=True, carry_over=TransferCarryOver.CARRY_OPEN
    )
    with pytest.raises(TransitionNotAllowed):
        transfer.transfer_request_decide(request_id=request.pk, by=receiving_supervisor, accept=False, comment="x")


def test_subject_access_lists_the_transfers_and_the_legal_proceedings(worked_case, caseworker, other_programme):
    proceeding = LegalProceeding.objects.create(
        case=worked_case, stage="trial", opened_on=worked_case.arrival_date, charges="Charges (test)."
    )
    hearing = proceeding.hearings.create(held_on=worked_case.arrival_date, court="District court (test)")
    request = ask(worked_case, caseworker, other_programme)
    export = person_export(person=worked_case.person)
    assert [row["id"] for row in export["legal_proceedings"]] == [proceeding.pk]
    assert export["legal_proceedings"][0]["charges"] == "Charges (test)."
    assert [row["id"] for row in export["court_hearings"]] == [hearing.pk]
    assert [row["id"] for row in export["transfer_requests"]] == [request.pk]


# --- the API -------------------------------------------------------------------------------------


def test_through_the_api(worked_case, caseworker, supervisor, other_programme, other_caseworker, receiving_supervisor):
    url = reverse("case-request-transfer", kwargs={"pk": worked_case.pk})
    assert api(caseworker).post(url, {"to_programme": other_programme.pk}, format="json").status_code == 400
    assert api(other_caseworker).post(url, {"to_programme": other_programme.pk, "reason": REASON}).status_code == 404
    created = api(caseworker).post(url, {"to_programme": other_programme.pk, "reason": REASON}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    # The receiving staff see the request addressed to them; only their supervisor decides.
    listed = api(other_caseworker).get(reverse("transfer-request-list")).json()["results"]
    assert [row["id"] for row in listed] == [pk]
    accept = reverse("transfer-request-accept", kwargs={"pk": pk})
    assert api(supervisor).post(accept, {"carry_over": "carry_open"}, format="json").status_code == 409
    assert api(receiving_supervisor).post(accept, {"carry_over": "sideways"}, format="json").status_code == 400
    stranger = f.UserFactory(username="stranger")
    bad_caseworker = {"carry_over": "carry_open", "caseworker": caseworker.pk}
    assert api(receiving_supervisor).post(accept, bad_caseworker, format="json").status_code == 400
    assert stranger.pk  # never a member of either programme
    done = api(receiving_supervisor).post(
        accept, {"carry_over": "carry_open", "caseworker": other_caseworker.pk}, format="json"
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "accepted"
    # The sending caseworker: the case is gone, the record stays.
    assert api(caseworker).get(reverse("case-detail", kwargs={"pk": worked_case.pk})).status_code == 404
    record = api(caseworker).get(reverse("transfer-request-detail", kwargs={"pk": pk})).json()
    assert record["handed_over"]["case"] == worked_case.reference
    assert api(other_caseworker).get(reverse("case-detail", kwargs={"pk": worked_case.pk})).status_code == 200
    refuse = reverse("transfer-request-refuse", kwargs={"pk": pk})
    assert api(receiving_supervisor).post(refuse, {"comment": "Too late"}, format="json").status_code == 409


# --- the admin -------------------------------------------------------------------------------------


def admin_login(client, user, group):
    role_groups_sync()
    user.groups.add(Group.objects.get(name=group))
    force_login(client, user)
    return client


def test_through_the_admin(client, worked_case, caseworker, other_programme, other_caseworker, receiving_supervisor):
    case_url = reverse("admin:casework_case_change", args=[worked_case.pk])
    admin_login(client, caseworker, "Caseworkers")
    page = client.get(case_url).content.decode()
    assert 'id="request-transfer"' in page and other_programme.name in page
    client.post(
        reverse("admin:casework_case_transfer_request", args=[worked_case.pk]),
        {"to_programme": other_programme.pk, "reason": REASON},
    )
    request = TransferRequest.objects.get()
    assert request.requested_by == caseworker
    page = client.get(case_url).content.decode()
    assert 'data-transfer-status="pending"' in page and 'id="request-transfer"' not in page
    decision_url = reverse("admin:lifecycle_transferrequest_change", args=[request.pk])
    assert 'name="accept"' not in client.get(decision_url).content.decode()

    client.logout()
    admin_login(client, receiving_supervisor, "Supervisors")
    page = client.get(decision_url).content.decode()
    assert 'name="accept"' in page and "handed-over-stage" in page
    refused = client.post(decision_url, {"refuse": "1", "comment": ""})
    assert refused.status_code == 200 and TransferRequest.objects.get().status == TransferStatus.PENDING
    done = client.post(decision_url, {"accept": "1", "carry_over": "restart", "caseworker": other_caseworker.pk})
    assert done.status_code == 302 and done["Location"] == case_url
    assert TransferRequest.objects.get().status == TransferStatus.ACCEPTED
    assert client.get(case_url).status_code == 200

    client.logout()
    admin_login(client, caseworker, "Caseworkers")
    assert client.get(case_url).status_code in (302, 404)
    page = client.get(decision_url).content.decode()
    assert "read-only record" in page and 'name="accept"' not in page and worked_case.reference in page
    listed = client.get(reverse("admin:lifecycle_transferrequest_changelist")).content.decode()
    assert worked_case.reference in listed
