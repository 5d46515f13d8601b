"""Case closure: requested by a caseworker, decided by a supervisor of the programme, reopenable."""

import pytest
from django.core.exceptions import ValidationError

from lifecycle import closure
from core.errors import NotVisible, TransitionNotAllowed
from casework.models import CaseStatus, ClosureRequestStatus
from notifications.models import Notification
from programmes.models import EnrolmentStatus, ProgrammeMembershipRole
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_(case, caseworker, supervisor):
    return closure.case_closure_request(case_id=case.pk, by=caseworker, reason="Settled with relatives (test).")


def test_request_tells_the_programmes_supervisors(request_, supervisor, other_programme):
    other_supervisor = f.add_member(other_programme, f.UserFactory(), ProgrammeMembershipRole.SUPERVISOR)
    notices = Notification.objects.filter(kind=closure.CLOSURE_REQUESTED, subject_id=request_.pk)
    assert [n.recipient for n in notices] == [supervisor]
    assert other_supervisor not in [n.recipient for n in notices]
    request_.case.refresh_from_db()
    assert request_.case.status == CaseStatus.OPEN


def test_approval_by_a_supervisor_closes_the_case_with_history(request_, supervisor):
    decided = closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=True, comment="Agreed.")
    case = decided.case
    case.refresh_from_db()
    assert decided.status == ClosureRequestStatus.APPROVED and decided.decided_by == supervisor
    assert case.status == CaseStatus.CLOSED and case.closed_on is not None
    assert case.enrolments.get().status == EnrolmentStatus.COMPLETED
    change = case.status_changes.get()
    assert (change.from_status, change.to_status, change.by, change.closure_request) == (
        "open",
        "closed",
        supervisor,
        decided,
    )


def test_rejection_needs_a_comment_and_keeps_the_case_open(request_, supervisor):
    with pytest.raises(ValidationError):
        closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=False, comment="")
    decided = closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=False, comment="Not yet.")
    decided.case.refresh_from_db()
    assert decided.status == ClosureRequestStatus.REJECTED
    assert decided.case.status == CaseStatus.OPEN
    with pytest.raises(TransitionNotAllowed, match="already been decided"):
        closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=True)


@pytest.mark.parametrize("who", ["caseworker", "other_supervisor", "requester_supervisor"])
def test_only_another_supervisor_of_the_programme_decides(request_, caseworker, programme, other_programme, who):
    if who == "caseworker":
        user = caseworker
    elif who == "other_supervisor":
        user = f.add_member(other_programme, f.UserFactory(), ProgrammeMembershipRole.SUPERVISOR)
    else:
        user = f.add_member(programme, caseworker, ProgrammeMembershipRole.SUPERVISOR)
    # A supervisor of another programme does not see the case: to them the request does not exist.
    refusal = NotVisible if who == "other_supervisor" else TransitionNotAllowed
    with pytest.raises(refusal):
        closure.case_closure_decide(request_id=request_.pk, by=user, approve=True)
    request_.refresh_from_db()
    assert request_.status == ClosureRequestStatus.PENDING


def test_one_pending_request_and_no_request_on_a_closed_case(request_, caseworker, supervisor):
    with pytest.raises(TransitionNotAllowed, match="pending"):
        closure.case_closure_request(case_id=request_.case_id, by=caseworker, reason="Again.")
    with pytest.raises(ValidationError):
        closure.case_closure_request(case_id=request_.case_id, by=caseworker, reason="")
    closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=True)
    with pytest.raises(TransitionNotAllowed, match="already closed"):
        closure.case_closure_request(case_id=request_.case_id, by=caseworker, reason="Again.")


def test_reopening(request_, caseworker, supervisor):
    with pytest.raises(TransitionNotAllowed):
        closure.case_reopen(case_id=request_.case_id, by=caseworker, reason="Open case.")
    closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=True)
    case = closure.case_reopen(case_id=request_.case_id, by=caseworker, reason="Family asked for help (test).")
    assert case.status == CaseStatus.REOPENED and case.closed_on is None
    assert list(case.status_changes.values_list("to_status", flat=True)) == ["closed", "reopened"]
    # The reopened case can go through closure again.
    again = closure.case_closure_request(case_id=case.pk, by=caseworker, reason="Settled (test).")
    assert again.status == ClosureRequestStatus.PENDING


def test_reopening_is_refused_when_the_person_has_another_open_case(request_, supervisor, caseworker):
    closure.case_closure_decide(request_id=request_.pk, by=supervisor, approve=True)
    f.CaseFactory(person=request_.case.person, reference="N-0009")
    with pytest.raises(TransitionNotAllowed, match="open case"):
        closure.case_reopen(case_id=request_.case_id, by=caseworker, reason="x")
