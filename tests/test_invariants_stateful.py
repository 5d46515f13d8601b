"""Invariants of casework proven by a stateful property-based test (issue #12).

A Hypothesis ``RuleBasedStateMachine`` drives random sequences of real operations
through the services (and, for a few rules, through the API and the admin):
registration and enrolment, stage transitions, follow-up outcomes, reassignment,
the end of an enrolment, consent and referral with the agency's answers, consent
withdrawal, closure requests and decisions, reopening and retention. After every
step it checks the invariants (``@invariant`` methods):

1. every stage status change has a transition row and an audit entry: per stage,
   the transition rows form one chain from "planned" to the current status, there
   are as many audited status changes as rows, and at least as many rows as the
   status changes the machine saw;
2. a closed case has no planned, active or blocked stage, no open follow-up and no
   pending or accepted referral;
3. every active stage whose stage type has a follow-up interval has exactly one
   open follow-up;
4. a partner sees (``case_visible_to``) exactly the cases referred to its agency,
   pending or accepted, under a current consent, and (``stage_visible_to``) only the
   stages of accepted referrals whose purpose the stage type covers, of the kinds
   its agency works on;
5. a case is visible to its caseworker while they hold a programme membership;
6. a refused operation changes nothing (a snapshot of every row the operations
   touch, taken before and compared after).

The fixed world (a programme with its catalogue, two caseworkers, a supervisor, two
agencies and their partners) is made once per test; each example runs inside its
own ``transaction.atomic()`` block that the machine rolls back in ``teardown``, so
examples never see each other's rows. This is plain ``pytest.mark.django_db``
(pytest-django's transaction per test) with a savepoint per example; Hypothesis's
own Django ``TestCase`` is not needed.

CI runs a bounded, derandomised run (``derandomize=True``: the same sequences on
every run): 25 examples of up to 30 steps, about 600 steps in all, some 30 seconds
on SQLite and a minute on PostgreSQL. A longer run on demand::

    INVARIANTS_EXAMPLES=500 INVARIANTS_STEPS=40 pytest tests/test_invariants_stateful.py

(``INVARIANTS_EXAMPLES`` examples of up to ``INVARIANTS_STEPS`` steps each;
``INVARIANTS_RANDOM=1`` also draws new sequences instead of the fixed ones.)

The machine found two bugs, now fixed and kept as the smallest examples at the
end of the module: a closed case could be referred (register and enrol, close,
refer: the agency then saw the closed case) and enrolled again (planned stages
on a closed case).
"""

from __future__ import annotations

import datetime
import os
from collections import Counter

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditEntry
from lifecycle import closure, retention
from casework import services as casework_services
from core.errors import NotVisible, StaleVersion, TransitionNotAllowed
from casework.models import (
    ACTIVE_REFERRAL_STATUSES,
    AgencyKind,
    Case,
    CaseStatus,
    CaseStatusChange,
    ClosureRequest,
    ClosureRequestStatus,
    Consent,
    ConsentPurpose,
    Referral,
    ReferralStatus,
)
from core.roles import role_groups_sync
from casework.selectors import case_visible_to
from notifications.models import Notification
from programmes import services as programme_services
from programmes import workflow
from programmes.models import (
    OPEN_STAGE_STATUSES,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    ProgrammeMembershipRole,
    StageRecord,
    StageStatus,
    StageTransition,
)
from programmes.selectors import AGENCY_STAGE_KINDS, stage_visible_to
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("INVARIANTS_EXAMPLES", "25"))
STEPS = int(os.environ.get("INVARIANTS_STEPS", "30"))

REFUSALS = (TransitionNotAllowed, ValidationError, NotVisible, StaleVersion)
NOTE = "Recorded by the state machine (test)."
STAGE_NOTES = {"complete": "outcome", "block": "reason", "discontinue": "reason", "reopen": "reason"}
PURPOSES = (ConsentPurpose.GENERAL, ConsentPurpose.SCHOOLING, ConsentPurpose.PSYCHOSOCIAL, ConsentPurpose.HOUSING)
# A day far enough ahead that every closed case's retention period has passed.
RETENTION_DAY = timezone.localdate() + datetime.timedelta(days=40 * 365)

picks = st.integers(min_value=0, max_value=1_000)
# Mostly the ordinary path; now and then (about one draw in four or five) the odd one:
# a blank reason, a stale If-Match, the requester deciding their own request.
seldom = st.integers(min_value=0, max_value=3).map(lambda n: n == 3)
mostly = st.integers(min_value=0, max_value=3).map(lambda n: n != 3)


def _pick(rows: list, index: int):
    return rows[index % len(rows)] if rows else None


def snapshot() -> tuple:
    """Every row the operations write, with the fields they change: equal before and
    after a refused operation. Reads leave audit entries too; only changes count."""
    return (
        sorted(Case.objects.values_list("id", "status", "caseworker_id", "closed_on", "anonymised_at")),
        sorted(Enrolment.objects.values_list("id", "status", "ended_on")),
        sorted(StageRecord.objects.values_list("id", "status", "version", "responsible_user_id")),
        StageTransition.objects.count(),
        sorted(FollowUp.objects.values_list("id", "done_on", "cancelled_on", "assignee_id")),
        sorted(Referral.objects.values_list("id", "status", "responded_on")),
        sorted(Consent.objects.values_list("id", "withdrawn_on")),
        sorted(ClosureRequest.objects.values_list("id", "status")),
        CaseStatusChange.objects.count(),
        Notification.objects.count(),
        AuditEntry.objects.filter(action__in=(0, 1, 2)).count(),
    )


def stage_statuses() -> dict[int, str]:
    return dict(StageRecord.objects.values_list("id", "status"))


class World:
    """The fixed actors every example shares (made once per test, outside the examples)."""

    def __init__(self):
        self.programme = f.ProgrammeFactory(code="north", name="North (test)")
        self.caseworkers = [
            f.add_member(self.programme, f.UserFactory(username=f"caseworker{n}"), ProgrammeMembershipRole.CASEWORKER)
            for n in (1, 2)
        ]
        self.supervisor = f.add_member(
            self.programme, f.UserFactory(username="supervisor"), ProgrammeMembershipRole.SUPERVISOR
        )
        self.agencies = [
            f.AgencyFactory(code="relief-ngo", name="Relief NGO (test)", kind=AgencyKind.NGO),
            f.AgencyFactory(code="school-9", name="School 9 (test)", kind=AgencyKind.SCHOOL),
        ]
        self.partners = []
        for agency in self.agencies:
            partner = f.UserFactory(username=f"partner-{agency.code}", is_staff=False)
            agency.members.add(partner)
            self.partners.append(partner)
        self.tokens = {user.pk: AuthToken.objects.create(user)[1] for user in [*self.caseworkers, *self.partners]}
        for caseworker in self.caseworkers:
            caseworker.groups.add(Group.objects.get(name="Caseworkers"))

    def api(self, user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[user.pk]}")
        return client


class CaseworkMachine(RuleBasedStateMachine):
    world: World  # set by the test before the run

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        cache.clear()  # API throttles start full in every example
        self.case_ids: list[int] = []
        # Status changes of each stage the machine has seen, step by step.
        self.changes_seen: Counter[int] = Counter()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ----------------------------------------------------------------------

    def _attempt(self, operation) -> bool:
        """Run one operation; a refusal must leave every row as it was. True if it went through."""
        before_rows, before_status = snapshot(), stage_statuses()
        try:
            operation()
        except REFUSALS:
            assert snapshot() == before_rows, "a refused operation changed rows"
            return False
        self._see_changes(before_status)
        return True

    def _attempt_http(self, send, ok: int) -> bool:
        """Send one request through a door; an answer other than ``ok`` must change nothing."""
        before_rows, before_status = snapshot(), stage_statuses()
        response = send()
        assert response.status_code < 500, response.content
        if response.status_code != ok:
            assert snapshot() == before_rows, f"a refused request ({response.status_code}) changed rows"
            return False
        self._see_changes(before_status)
        return True

    def _see_changes(self, before: dict[int, str]) -> None:
        for stage_id, status in stage_statuses().items():
            if before.get(stage_id, StageStatus.PLANNED) != status:
                self.changes_seen[stage_id] += 1

    def _case(self, index: int) -> Case | None:
        case_id = _pick(self.case_ids, index)
        return Case.objects.get(pk=case_id) if case_id else None

    def _stage(self, case_index: int, stage_index: int) -> StageRecord | None:
        case = self._case(case_index)
        stages = list(StageRecord.objects.filter(enrolment__case=case).order_by("pk")) if case else []
        return _pick(stages, stage_index)

    def _has_cases(self) -> bool:
        return bool(self.case_ids)

    # --- registration and enrolment ---------------------------------------------------

    @rule(worker=st.integers(0, 1), enrol=mostly)
    def register(self, worker, enrol):
        caseworker = self.world.caseworkers[worker]
        case = f.CaseFactory(caseworker=caseworker, reference=f"SM-{len(self.case_ids) + 1:04d}")
        self.case_ids.append(case.pk)
        assert case_visible_to(caseworker).filter(pk=case.pk).exists()
        if enrol:
            self._attempt(lambda: f.enrol(case, self.world.programme, by=caseworker))

    @precondition(_has_cases)
    @rule(case=picks, by_caseworker=mostly)
    def enrol(self, case, by_caseworker):
        case = self._case(case)
        by = case.caseworker if by_caseworker else self.world.supervisor
        self._attempt(lambda: f.enrol(case, self.world.programme, by=by))

    # --- stages and follow-ups --------------------------------------------------------

    @precondition(_has_cases)
    @rule(case=picks, stage=picks, action=st.sampled_from(sorted(workflow.STAGE_ACTIONS)), blank=seldom)
    def stage_action(self, case, stage, action, blank):
        stage = self._stage(case, stage)
        if stage is None:
            return
        arguments = {}
        if action in STAGE_NOTES:
            # A blank outcome or reason is refused; so must be its effects.
            arguments[STAGE_NOTES[action]] = " " if blank and action != "reopen" else NOTE
        by = stage.enrolment.case.caseworker or self.world.supervisor
        self._attempt(lambda: workflow.STAGE_ACTIONS[action](stage_id=stage.pk, by=by, **arguments))

    @precondition(_has_cases)
    @rule(case=picks, stage=picks, action=st.sampled_from(sorted(workflow.STAGE_ACTIONS)), stale=seldom)
    def stage_action_through_the_api(self, case, stage, action, stale):
        stage = self._stage(case, stage)
        if stage is None:
            return
        body = {STAGE_NOTES[action]: NOTE} if action in STAGE_NOTES else {}
        headers = {"HTTP_IF_MATCH": f'"{stage.pk}.{stage.version - 1}"'} if stale else {}
        url = reverse("stage-detail", kwargs={"pk": stage.pk}) + f"{action}/"
        client = self.world.api(self.world.caseworkers[0])
        self._attempt_http(lambda: client.post(url, body, format="json", **headers), ok=200)

    @precondition(_has_cases)
    @rule(case=picks, follow_up=picks)
    def follow_up_outcome(self, case, follow_up):
        case = self._case(case)
        follow_up = _pick(list(FollowUp.objects.filter(stage__enrolment__case=case).order_by("pk")), follow_up)
        if follow_up is None:
            return
        self._attempt(
            lambda: workflow.follow_up_record(follow_up_id=follow_up.pk, by=self.world.supervisor, outcome=NOTE)
        )

    # --- reassignment and the end of an enrolment -------------------------------------

    @precondition(_has_cases)
    @rule(case=picks, worker=st.integers(0, 1), by_supervisor=st.booleans())
    def reassign(self, case, worker, by_supervisor):
        case = self._case(case)
        by = self.world.supervisor if by_supervisor else (case.caseworker or self.world.supervisor)
        caseworker = self.world.caseworkers[worker]
        self._attempt(lambda: programme_services.case_assign(case_id=case.pk, caseworker=caseworker, by=by))

    @precondition(_has_cases)
    @rule(case=picks, status=st.sampled_from([EnrolmentStatus.COMPLETED, EnrolmentStatus.WITHDRAWN]))
    def enrolment_end(self, case, status):
        case = self._case(case)
        enrolment = case.enrolments.order_by("-pk").first()
        if enrolment is None:
            return
        self._attempt(
            lambda: programme_services.enrolment_end(enrolment_id=enrolment.pk, status=status, by=self.world.supervisor)
        )

    # --- consent and referrals ---------------------------------------------------------

    @precondition(_has_cases)
    @rule(
        case=picks,
        agency=st.integers(0, 1),
        purpose=st.sampled_from(PURPOSES),
        stage=st.none() | picks,
        any_agency=st.booleans(),
    )
    def refer(self, case, agency, purpose, stage, any_agency):
        case = self._case(case)
        agency = self.world.agencies[agency]
        by = case.caseworker or self.world.supervisor
        consent = Consent(
            person=case.person,
            agency=None if any_agency else agency,
            purpose=purpose,
            given_on=timezone.localdate() - datetime.timedelta(days=3),
        )
        if not self._attempt(lambda: casework_services.consent_record(consent=consent, by=by)):
            return
        stage = None if stage is None else self._stage(self.case_ids.index(case.pk), stage)
        referral = Referral(case=case, agency=agency, purpose=purpose, consent=consent, stage=stage)
        self._attempt(lambda: casework_services.referral_create(referral=referral, by=by))

    @precondition(_has_cases)
    @rule(referral=picks, answer=st.sampled_from(["accept", "decline", "complete"]), through_api=st.booleans())
    def referral_answer(self, referral, answer, through_api):
        referral = _pick(list(Referral.objects.order_by("pk")), referral)
        if referral is None:
            return
        partner = self.world.partners[self.world.agencies.index(referral.agency)]
        # An answer says why (a decline must; completion takes no reason).
        reason = {} if answer == "complete" else {"reason": NOTE}
        if through_api:
            url = reverse("referral-detail", kwargs={"pk": referral.pk}) + f"{answer}/"
            self._attempt_http(lambda: self.world.api(partner).post(url, reason, format="json"), ok=200)
        else:
            service = getattr(casework_services, f"referral_{answer}")
            self._attempt(lambda: service(referral_id=referral.pk, by=partner, **reason))

    @precondition(_has_cases)
    @rule(consent=picks)
    def consent_withdraw(self, consent):
        consent = _pick(list(Consent.objects.order_by("pk")), consent)
        if consent is None:
            return
        self._attempt(lambda: casework_services.consent_withdraw(consent_id=consent.pk, by=self.world.supervisor))

    # --- closure, reopening, retention -------------------------------------------------

    @precondition(_has_cases)
    @rule(case=picks, blank=seldom, through_admin=seldom)
    def closure_request(self, case, blank, through_admin):
        case = self._case(case)
        by = case.caseworker or self.world.caseworkers[0]
        reason = " " if blank else NOTE
        if through_admin:
            client = force_login(Client(), by)
            url = reverse("admin:casework_closurerequest_add")
            self._attempt_http(lambda: client.post(url, {"case": case.pk, "reason": reason}), ok=302)
        else:
            self._attempt(lambda: closure.case_closure_request(case_id=case.pk, by=by, reason=reason))

    @precondition(_has_cases)
    @rule(request=picks, approve=mostly, by_requester=seldom)
    def closure_decide(self, request, approve, by_requester):
        # Mostly the pending ones: a decided request is refused, which other steps cover.
        pending = list(ClosureRequest.objects.filter(status=ClosureRequestStatus.PENDING).order_by("pk"))
        request = _pick(pending or list(ClosureRequest.objects.order_by("pk")), request)
        if request is None:
            return
        by = request.requested_by if by_requester else self.world.supervisor
        self._attempt(lambda: closure.case_closure_decide(request_id=request.pk, by=by, approve=approve, comment=NOTE))

    @precondition(_has_cases)
    @rule(case=picks)
    def close(self, case):
        """The whole ordinary closure: the caseworker asks, the supervisor approves."""
        case = self._case(case)
        by = case.caseworker or self.world.caseworkers[0]
        requests = []
        if self._attempt(lambda: requests.append(closure.case_closure_request(case_id=case.pk, by=by, reason=NOTE))):
            self._attempt(
                lambda: closure.case_closure_decide(request_id=requests[0].pk, by=self.world.supervisor, approve=True)
            )

    @precondition(_has_cases)
    @rule(case=picks, by_caseworker=mostly)
    def reopen(self, case, by_caseworker):
        case = self._case(case)
        by = case.caseworker if by_caseworker else self.world.supervisor
        self._attempt(lambda: closure.case_reopen(case_id=case.pk, by=by, reason=NOTE))

    @precondition(_has_cases)
    @rule()
    def retention(self):
        before = set(
            Case.objects.filter(status=CaseStatus.CLOSED, anonymised_at__isnull=True).values_list("pk", flat=True)
        )
        result = retention.retention_apply(today=RETENTION_DAY)
        assert not result.failures, result.failures
        assert before <= set(result.case_ids)

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def every_status_change_has_its_transition_and_audit_entry(self):
        rows: dict[int, list[tuple[str, str]]] = {}
        for stage_id, from_status, to_status in StageTransition.objects.order_by("pk").values_list(
            "stage_id", "from_status", "to_status"
        ):
            rows.setdefault(stage_id, []).append((from_status, to_status))
        audited = Counter(
            int(object_id)
            for object_id, changes in AuditEntry.objects.filter(
                content_type__app_label="programmes", content_type__model="stagerecord", action=1
            ).values_list("object_id", "changes")
            if "status" in (changes or {})
        )
        for stage_id, status in stage_statuses().items():
            chain = rows.get(stage_id, [])
            expected_from = StageStatus.PLANNED
            for from_status, to_status in chain:
                assert from_status == expected_from, f"stage {stage_id}: transitions do not chain"
                expected_from = to_status
            assert expected_from == status, f"stage {stage_id} is {status} but its transitions end at {expected_from}"
            assert len(chain) >= self.changes_seen[stage_id], f"stage {stage_id}: a status change has no transition"
            assert audited[stage_id] == len(chain), (
                f"stage {stage_id}: {len(chain)} transitions, {audited[stage_id]} audited"
            )

    @invariant()
    def a_closed_case_leaves_nothing_open(self):
        closed = Case.objects.filter(status=CaseStatus.CLOSED)
        assert not StageRecord.objects.filter(enrolment__case__in=closed, status__in=OPEN_STAGE_STATUSES).exists()
        assert not FollowUp.objects.filter(
            stage__enrolment__case__in=closed, done_on__isnull=True, cancelled_on__isnull=True
        ).exists()
        assert not Referral.objects.filter(case__in=closed, status__in=ACTIVE_REFERRAL_STATUSES).exists()
        assert not Enrolment.objects.filter(case__in=closed, status=EnrolmentStatus.ACTIVE).exists()

    @invariant()
    def every_active_stage_with_an_interval_has_one_open_follow_up(self):
        stages = StageRecord.objects.filter(
            status=StageStatus.ACTIVE, stage_type__follow_up_interval_days__isnull=False
        )
        for stage in stages:
            open_count = stage.follow_ups.filter(done_on__isnull=True, cancelled_on__isnull=True).count()
            assert open_count == 1, f"active stage {stage.pk} has {open_count} open follow-ups"

    @invariant()
    def partners_see_exactly_what_is_referred_to_them(self):
        today = timezone.localdate()
        for agency, partner in zip(self.world.agencies, self.world.partners):
            granting = [
                referral
                for referral in Referral.objects.filter(
                    agency=agency, status__in=ACTIVE_REFERRAL_STATUSES
                ).select_related("consent", "case", "stage__stage_type")
                if referral.consent.is_current(today) and referral.case.archived_at is None
            ]
            # Only an accepted referral opens its case; a pending one shows the agency the referral alone.
            accepted = {r.case_id for r in granting if r.status == ReferralStatus.ACCEPTED}
            assert set(case_visible_to(partner).values_list("pk", flat=True)) == accepted
            kinds = AGENCY_STAGE_KINDS.get(agency.kind)
            expected_stages = set()
            for referral in granting:
                if referral.status != ReferralStatus.ACCEPTED:
                    continue
                stages = (
                    [referral.stage]
                    if referral.stage
                    else StageRecord.objects.filter(enrolment__case=referral.case).select_related("stage_type")
                )
                for stage in stages:
                    if referral.purpose in stage.stage_type.referral_purposes and (
                        not kinds or stage.stage_type.kind in kinds
                    ):
                        expected_stages.add(stage.pk)
            assert set(stage_visible_to(partner).values_list("pk", flat=True)) == expected_stages

    @invariant()
    def a_case_is_visible_to_its_caseworker(self):
        for case in Case.objects.filter(pk__in=self.case_ids, caseworker__isnull=False).select_related("caseworker"):
            assert case_visible_to(case.caseworker).filter(pk=case.pk).exists(), (
                f"case {case.pk} hidden from its caseworker"
            )


@pytest.fixture
def world(settings):
    # The world creates several users; real password hashing would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    role_groups_sync()
    return World()


def test_casework_invariants_hold_for_any_sequence_of_operations(world):
    CaseworkMachine.world = world
    run_state_machine_as_test(
        CaseworkMachine,
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            derandomize=os.environ.get("INVARIANTS_RANDOM") != "1",
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        ),
    )


# --- Known bugs: the smallest failing examples the machine found ---------------------------------


@pytest.fixture
def closed_case(world):
    caseworker = world.caseworkers[0]
    case = f.CaseFactory(caseworker=caseworker, reference="SM-CLOSED")
    f.enrol(case, world.programme, by=caseworker)
    request = closure.case_closure_request(case_id=case.pk, by=caseworker, reason=NOTE)
    closure.case_closure_decide(request_id=request.pk, by=world.supervisor, approve=True)
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED
    return case


def test_enrolling_a_closed_case_opens_no_stage(world, closed_case):
    try:
        f.enrol(closed_case, world.programme, by=world.caseworkers[0])
    except REFUSALS:
        pass
    assert not StageRecord.objects.filter(enrolment__case=closed_case, status__in=OPEN_STAGE_STATUSES).exists()


def test_referring_a_closed_case_shares_nothing(world, closed_case):
    caseworker, agency = world.caseworkers[0], world.agencies[0]
    consent = casework_services.consent_record(
        consent=Consent(
            person=closed_case.person,
            agency=agency,
            purpose=ConsentPurpose.GENERAL,
            given_on=timezone.localdate() - datetime.timedelta(days=3),
        ),
        by=caseworker,
    )
    referral = Referral(case=closed_case, agency=agency, purpose=ConsentPurpose.GENERAL, consent=consent)
    try:
        casework_services.referral_create(referral=referral, by=caseworker)
    except REFUSALS:
        pass
    assert not Referral.objects.filter(case=closed_case, status__in=ACTIVE_REFERRAL_STATUSES).exists()
    assert not case_visible_to(world.partners[0]).filter(pk=closed_case.pk).exists()
