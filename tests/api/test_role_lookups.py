"""The caller's roles, programmes and agencies are read once per request, whatever the
number of selectors, filters and serializers that ask (issue: ten repeated role lookups)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.roles import programme_ids_for, roles_resolved_once
from programmes.models import ProgrammeMembership
from tests import factories as f

pytestmark = pytest.mark.django_db

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


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "partner"])
@pytest.mark.parametrize("name", LISTS)
def test_each_role_question_is_asked_once_per_request(world, name, role):
    client = world.client(role)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name))
    assert response.status_code == 200
    counts = _role_queries(queries)
    assert counts["groups"] <= 1, counts
    # All programmes, and those supervised: two questions at most.
    assert counts["memberships"] <= 2, counts
    assert counts["agencies"] <= 1, counts


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
