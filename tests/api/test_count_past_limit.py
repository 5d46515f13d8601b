"""A list's count is exact up to a limit; past it an estimate, and the pages still reach
every row (README, "The partner-agency API": pagination)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from api import policies

pytestmark = pytest.mark.django_db


def _walk(client, url):
    seen, answers = [], []
    while url:
        answer = client.get(url).json()
        answers.append(answer)
        seen.extend(row["id"] for row in answer["results"])
        url = answer["next"]
    return seen, answers


@pytest.mark.parametrize("role", ["administrator", "caseworker"])
def test_past_the_limit_the_pages_still_give_every_row_once(world, monkeypatch, role):
    client = world.client(role)
    everything = [row["id"] for row in client.get(reverse("stage-list"), {"page_size": 200}).json()["results"]]
    assert len(everything) > 3
    monkeypatch.setattr(policies, "EXACT_COUNT_LIMIT", 2)
    seen, answers = _walk(client, reverse("stage-list") + "?page_size=2")
    assert seen == everything
    # Past the limit the count is never below it; an exact count below the limit is exact.
    assert all(answer["count"] > 2 for answer in answers)
    assert client.get(reverse("stage-list"), {"page": 999}).status_code == 404


def test_under_the_limit_the_count_is_exact(world):
    client = world.client("caseworker")
    answer = client.get(reverse("stage-list"), {"page_size": 2}).json()
    assert answer["count"] == len(client.get(reverse("stage-list"), {"page_size": 200}).json()["results"])
    assert client.get(reverse("stage-list"), {"page": "x"}).status_code == 404
