"""Case notes through the API: programme staff read and add them; partners never."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from casework.models import CaseNote

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_staff_add_notes_as_themselves_and_partners_see_none(case, caseworker, supervisor, partner, other_caseworker):
    body = {"case": case.pk, "body": "Met the family at home (test)", "author": supervisor.pk}
    refused = _client(caseworker).post(reverse("note-list"), body, format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["author"]
    body.pop("author")
    created = _client(caseworker).post(reverse("note-list"), body, format="json")
    assert created.status_code == 201 and created.json()["author"] == caseworker.pk
    assert CaseNote.objects.get().author == caseworker

    listed = _client(supervisor).get(reverse("note-list"), {"case": case.pk}).json()
    assert [note["body"] for note in listed["results"]] == ["Met the family at home (test)"]
    assert _client(partner).post(reverse("note-list"), body, format="json").status_code == 403
    assert _client(partner).get(reverse("note-list")).json()["count"] == 0
    detail = reverse("note-detail", kwargs={"pk": created.json()["id"]})
    assert _client(partner).get(detail).status_code == 404
    assert _client(other_caseworker).get(detail).status_code == 404
    assert _client(other_caseworker).post(reverse("note-list"), body, format="json").status_code == 400
    # Added, never rewritten.
    assert _client(caseworker).patch(detail, {"body": "Changed"}, format="json").status_code == 405
