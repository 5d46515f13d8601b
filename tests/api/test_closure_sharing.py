"""Closure and sharing: closing a case ends its referrals at once; only staff who see a
case may ask for or decide its closure."""

from __future__ import annotations

import pytest

from core.errors import NotVisible
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit.models import AuditEntry
from lifecycle import closure
from casework.models import Case, ClosureRequest, Referral, ReferralStatus
from core.roles import role_groups_sync
from notifications.models import Notification
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


def close(world):
    request = closure.case_closure_request(
        case_id=world.case.pk, by=world.users["caseworker"], reason="Settled with relatives (test)."
    )
    closure.case_closure_decide(request_id=request.pk, by=world.users["supervisor"], approve=True)


# --- Finding 2: closing a case does not end sharing -----------------------------------------


def test_closing_a_case_does_not_end_sharing(world):
    client = world.client("partner")
    case_url = reverse("case-detail", kwargs={"pk": world.case.pk})
    assert client.get(case_url).status_code == 200
    pending = f.ReferralFactory(case=world.case, agency=f.AgencyFactory(), referred_by=world.users["caseworker"])

    close(world)

    assert client.get(case_url).status_code == 404
    assert client.get(reverse("person-detail", kwargs={"pk": world.person.pk})).status_code == 404
    assert client.get(reverse("referral-detail", kwargs={"pk": world.referral.pk})).status_code == 404
    assert client.get(reverse("stage-detail", kwargs={"pk": world.stage.pk})).status_code == 404
    world.referral.refresh_from_db()
    pending.refresh_from_db()
    assert world.referral.status == ReferralStatus.COMPLETED
    assert pending.status == ReferralStatus.WITHDRAWN
    # Each change is in the trail, by the supervisor who approved the closure.
    for referral, before, after in ((world.referral, "accepted", "completed"), (pending, "pending", "withdrawn")):
        entry = AuditEntry.objects.get(
            content_type=ContentType.objects.get_for_model(Referral),
            object_pk=str(referral.pk),
            action=LogEntry.Action.UPDATE,
        )
        assert entry.actor == world.users["supervisor"]
        assert entry.changes["status"] == [before, after]


def test_reopening_a_case_does_not_restore_its_referrals(world):
    close(world)
    closure.case_reopen(case_id=world.case.pk, by=world.users["caseworker"], reason="The family asked (test).")
    world.referral.refresh_from_db()
    assert world.referral.status == ReferralStatus.COMPLETED
    assert world.client("partner").get(reverse("case-detail", kwargs={"pk": world.case.pk})).status_code == 404


def test_a_rejected_closure_leaves_the_referrals_as_they_were(world):
    request = closure.case_closure_request(case_id=world.case.pk, by=world.users["caseworker"], reason="Test.")
    closure.case_closure_decide(request_id=request.pk, by=world.users["supervisor"], approve=False, comment="No.")
    world.referral.refresh_from_db()
    assert world.referral.status == ReferralStatus.ACCEPTED


# --- Finding 4: anyone can ask to close a case of another programme -------------------------


@pytest.mark.parametrize("role", ["other_caseworker", "partner", "partner_without_referral"])
def test_a_closure_request_on_a_case_the_user_may_not_see_is_refused(world, role):
    with pytest.raises(NotVisible):
        closure.case_closure_request(case_id=world.case.pk, by=world.users[role], reason="Moved away (test).")
    assert not ClosureRequest.objects.exists()
    assert not Notification.objects.exists()


def test_a_closure_request_through_the_admin_on_another_programmes_case(world, client):
    role_groups_sync()
    other_caseworker = world.users["other_caseworker"]
    other_caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    force_login(client, other_caseworker)
    client.raise_request_exception = False
    response = client.post(
        reverse("admin:casework_closurerequest_add"), {"case": world.case.pk, "reason": "Moved away (test)."}
    )
    assert response.status_code != 302
    assert not ClosureRequest.objects.exists()
    assert not Notification.objects.exists()


def test_a_closure_decision_by_a_supervisor_who_may_not_see_the_case_is_refused(world):
    request = closure.case_closure_request(case_id=world.case.pk, by=world.users["caseworker"], reason="Test.")
    outsider = f.add_member(world.case.enrolments.get().programme, f.UserFactory(), "supervisor")
    Case.objects.filter(pk=world.case.pk).update(archived_at="2026-01-01T00:00:00Z")
    with pytest.raises(NotVisible):
        closure.case_closure_decide(request_id=request.pk, by=outsider, approve=True)
    with pytest.raises(NotVisible):
        closure.case_closure_decide(request_id=request.pk, by=world.users["other_caseworker"], approve=True)
    request.refresh_from_db()
    assert request.status == "pending"
