"""The caller's roles, programmes and agencies are read once per request, whatever the
number of selectors, filters and serializers that ask (issue: ten repeated role lookups)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from knox.models import AuthToken

from core.roles import ADMINISTRATORS_GROUP, programme_ids_for, roles_resolved_once
from programmes.models import ProgrammeMembership
from tests import factories as f

pytestmark = pytest.mark.django_db

AUDITED_READ_LISTS = ["case-list", "person-list"]
LISTS = ["case-list", "person-list", "stage-list", "follow-up-list", "referral-list", "enrolment-list"]


def _role_queries(queries) -> dict[str, int]:
    tables = {
        "groups": '"auth_user_groups"',
        "memberships": '"programmes_programmemembership"',
        "agencies": '"casework_agency_members"',
    }
    counts = dict.fromkeys(tables, 0)
    for query in queries.captured_queries:
        sql = query["sql"]
        # Only the lookups themselves: a scoping subquery joins these tables inside a bigger query.
        if sql.lstrip().upper().startswith("SELECT") and sql.count("SELECT") == 1:
            for name, table in tables.items():
                if table in sql:
                    counts[name] += 1
    return counts


#: Each role question once per request, whichever list: the administrators group, the
#: programme memberships (all of them, with their roles, in one query), the agencies.
#: A superuser is an administrator without asking; an administrator's lists ask no
#: programme; a read the audit trail records asks the reader's agency (the entry names it).
EXACT_ROLE_QUERIES = {
    "administrator": {"groups": 0, "memberships": 0, "agencies": 1},
    "group_administrator": {"groups": 1, "memberships": 0, "agencies": 1},
    "supervisor": {"groups": 1, "memberships": 1, "agencies": 1},
    "caseworker": {"groups": 1, "memberships": 1, "agencies": 1},
    "partner": {"groups": 1, "memberships": 1, "agencies": 1},
}


@pytest.fixture
def group_administrator(world):
    user = f.UserFactory(username="group-admin")
    user.groups.add(Group.objects.get_or_create(name=ADMINISTRATORS_GROUP)[0])
    world.tokens["group_administrator"] = AuthToken.objects.create(user)[1]
    return user


@pytest.mark.parametrize("role", list(EXACT_ROLE_QUERIES))
@pytest.mark.parametrize("name", LISTS)
def test_each_role_question_is_asked_exactly_once_per_request(world, group_administrator, name, role):
    client = world.client(role)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name))
    assert response.status_code == 200
    assert response.json()["results"] or role != "caseworker", "the caseworker sees rows on every list"
    expected = dict(EXACT_ROLE_QUERIES[role])
    if role.endswith("administrator") and name not in AUDITED_READ_LISTS:
        expected["agencies"] = 0
    assert _role_queries(queries) == expected


@pytest.mark.parametrize("role", ["caseworker", "partner"])
def test_a_detail_and_an_action_ask_each_role_question_once(world, role):
    client = world.client(role)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("case-detail", args=[world.case.pk])).status_code == 200
    assert _role_queries(queries) == EXACT_ROLE_QUERIES[role]
    with CaptureQueriesContext(connection) as queries:
        client.post(reverse("referral-complete", args=[world.referral.pk]))
    assert _role_queries(queries) == EXACT_ROLE_QUERIES[role]


def test_a_removed_membership_counts_on_the_next_request(world, caseworker):
    client = world.client("caseworker")
    assert client.get(reverse("case-detail", args=[world.case.pk])).status_code == 200
    ProgrammeMembership.objects.filter(user=caseworker).delete()
    assert client.get(reverse("case-detail", args=[world.case.pk])).status_code == 404


def test_outside_a_request_nothing_is_cached(programme):
    user = f.UserFactory()
    assert programme_ids_for(user) == []
    f.add_member(programme, user, "caseworker")
    assert programme_ids_for(user) == [programme.pk]


def test_within_a_request_an_answer_is_reused(programme):
    user = f.UserFactory()
    f.add_member(programme, user, "caseworker")
    with roles_resolved_once(), CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert programme_ids_for(user) == [programme.pk]
    assert len(queries) == 1
