"""The case page and the case list cost a fixed number of queries, whatever the caseload."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casework.models import CaseNote, Family, FamilyMembership, PersonName, ReceivingRelative
from core.roles import role_groups_sync
from programmes import workflow
from programmes.models import FollowUp, RelativeContact, StageRecord
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, caseworker):
    role_groups_sync()
    caseworker.groups.add(Group.objects.get(name="Caseworkers"))
    force_login(client, caseworker)
    return client


def queries(client, url):
    client.get(url)  # warm the session and content-type caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def grow(case, caseworker, programme, n):
    """Add n family members (each with a case), n notes, n spellings and follow-ups on every stage."""
    family = case.family
    start = PersonName.objects.filter(person=case.person).count()
    for i in range(start, start + n):
        member = f.PersonFactory()
        FamilyMembership.objects.create(family=family, person=member, relationship="child")
        member_case = f.CaseFactory(person=member, family=family, caseworker=caseworker)
        f.enrol(member_case, programme, by=caseworker)
        CaseNote.objects.create(case=case, author=caseworker, body=f"Note {i} (test).")
        PersonName.objects.create(person=case.person, full_name=f"Spelling {i}", script="latin")
        ReceivingRelative.objects.create(family=family, name=f"Relative {i} (test)", phone="+7 000 000 00 00")
    housing = StageRecord.objects.get(enrolment__case=case, stage_type__kind="housing")
    RelativeContact.objects.bulk_create(
        RelativeContact(
            stage=housing,
            relative_name=f"Contact {i}",
            relationship="parent",
            method="phone",
            contacted_on=datetime.date(2026, 1, 1),
        )
        for i in range(n)
    )
    for stage in StageRecord.objects.filter(enrolment__case=case):
        for i in range(n):
            FollowUp.objects.create(
                stage=stage, kind="call", due_date=datetime.date(2027, 1, 1) + datetime.timedelta(days=i)
            )


def test_case_page_queries_do_not_grow_with_the_case(signed_in, case, caseworker, programme):
    family = Family.objects.create(reference="F-1")
    FamilyMembership.objects.create(family=family, person=case.person, relationship="head")
    case.family = family
    case.save()
    workflow.stage_start(stage_id=StageRecord.objects.filter(enrolment__case=case).first().pk, by=caseworker)
    url = reverse("admin:casework_case_change", args=[case.pk])
    grow(case, caseworker, programme, 1)
    small = queries(signed_in, url)
    grow(case, caseworker, programme, 8)
    assert queries(signed_in, url) == small


def test_case_list_of_100_costs_what_a_list_of_10_costs(signed_in, caseworker, programme):
    url = reverse("admin:casework_case_changelist") + "?mine=all"
    for _ in range(10):
        f.enrol(f.CaseFactory(caseworker=caseworker), programme, by=caseworker)
    ten = queries(signed_in, url)
    for _ in range(90):
        f.enrol(f.CaseFactory(caseworker=caseworker), programme, by=caseworker)
    assert queries(signed_in, url) == ten


def _housed(case, caseworker, agency):
    """A case with a place, an overdue follow-up, a pending referral and a closure request."""
    from casework.models import Consent, Referral
    from lifecycle import closure
    from programmes.models import HousingPlacement

    today = case.enrolments.get().programme.local_today()
    housing = StageRecord.objects.get(enrolment__case=case, stage_type__code="housing")
    HousingPlacement.objects.create(
        stage=housing, address="Street (test)", settlement="Kosshy (test)", living_with="relatives", moved_in_on=today
    )
    FollowUp.objects.create(stage=housing, kind="visit", due_date=today - datetime.timedelta(days=2))
    consent = Consent.objects.create(
        person=case.person, agency=agency, purpose="schooling", given_on=case.arrival_date, recorded_by=caseworker
    )
    Referral.objects.create(case=case, agency=agency, purpose="schooling", consent=consent, referred_by=caseworker)
    closure.case_closure_request(case_id=case.pk, by=caseworker, reason="Settled (test).")


@pytest.mark.parametrize(
    "url",
    [
        "admin:programmes_stagerecord_changelist",
        "admin:programmes_followup_changelist",
        "admin:casework_referral_changelist",
        "admin:casework_closurerequest_changelist",
        "admin:index",
    ],
)
def test_worklists_and_dashboard_cost_the_same_for_many_rows(signed_in, caseworker, programme, agency, url):
    def add(n):
        for _ in range(n):
            family = Family.objects.create(reference=f"F-{Family.objects.count() + 1}")
            case = f.CaseFactory(caseworker=caseworker, family=family)
            f.enrol(case, programme, by=caseworker)
            _housed(case, caseworker, agency)

    add(3)
    few = queries(signed_in, reverse(url))
    add(12)
    assert queries(signed_in, reverse(url)) == few


def test_the_supervisors_desk_costs_the_same_for_many_caseworkers(client, supervisor, programme, agency):
    from programmes.models import ProgrammeMembershipRole

    role_groups_sync()
    supervisor.groups.add(Group.objects.get(name="Supervisors"))
    force_login(client, supervisor)

    def add(n):
        for _ in range(n):
            worker = f.add_member(programme, f.UserFactory(), ProgrammeMembershipRole.CASEWORKER)
            case = f.CaseFactory(caseworker=worker, family=Family.objects.create(reference=f"F-{worker.pk}"))
            f.enrol(case, programme, by=worker)
            _housed(case, worker, agency)

    add(2)
    few = queries(client, reverse("admin:index"))
    add(8)
    assert queries(client, reverse("admin:index")) == few
