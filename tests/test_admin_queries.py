"""The case page and the case list cost a fixed number of queries, whatever the caseload."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from casework.models import CaseNote, Family, FamilyMembership, PersonName
from core.roles import role_groups_sync
from programmes import workflow
from programmes.models import FollowUp, StageRecord
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
