"""Closure through the API: caseworkers ask, a supervisor of the programme who did not
ask decides, with a comment for a rejection; the rules are the closure service's."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from casework.models import CaseStatus, ClosureRequestStatus
from programmes.models import ProgrammeMembershipRole
from tests import factories as f

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _ask(user, case):
    return _client(user).post(
        reverse("case-request-closure", kwargs={"pk": case.pk}), {"reason": "Settled (test)"}, format="json"
    )


def test_a_caseworker_asks_and_a_supervisor_approves(case, caseworker, supervisor):
    asked = _ask(caseworker, case)
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    assert _ask(caseworker, case).status_code == 409
    approve = reverse("closure-request-approve", kwargs={"pk": asked.json()["id"]})
    # The caseworker may not decide; the supervisor does.
    assert _client(caseworker).post(approve, {}, format="json").status_code == 409
    decided = _client(supervisor).post(approve, {"comment": "Agreed (test)"}, format="json")
    assert decided.status_code == 200 and decided.json()["decided_by"] == supervisor.pk
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    assert _client(supervisor).post(approve, {}, format="json").status_code == 409


def test_a_rejection_says_why_and_the_requester_does_not_decide(programme, case, supervisor):
    other_supervisor = f.add_member(
        programme, f.UserFactory(username="supervisor2"), ProgrammeMembershipRole.SUPERVISOR
    )
    asked = _ask(supervisor, case).json()["id"]
    reject = reverse("closure-request-reject", kwargs={"pk": asked})
    assert _client(supervisor).post(reject, {"comment": "Mine (test)"}, format="json").status_code == 409
    missing = _client(other_supervisor).post(reject, {}, format="json")
    assert missing.status_code == 400 and "comment" in missing.json()["errors"]
    rejected = _client(other_supervisor).post(reject, {"comment": "School year not over (test)"}, format="json")
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["comment"]) == (
        ClosureRequestStatus.REJECTED,
        "School year not over (test)",
    )
    case.refresh_from_db()
    assert case.status != CaseStatus.CLOSED


def test_partners_and_other_programmes_neither_ask_nor_see(case, other_caseworker, partner, caseworker):
    assert _ask(partner, case).status_code == 403
    assert _ask(other_caseworker, case).status_code == 404
    asked = _ask(caseworker, case).json()["id"]
    for user, expected in ((partner, 403), (other_caseworker, 404)):
        url = reverse("closure-request-approve", kwargs={"pk": asked})
        assert _client(user).post(url, {}, format="json").status_code == expected
    assert _client(other_caseworker).get(reverse("closure-request-list")).json()["count"] == 0
    assert _client(partner).get(reverse("closure-request-list")).json()["count"] == 0
