"""Old links of merged records (``casework.selectors.person_kept_for``): the cases the
mutation run of the selectors found untested (README, "Mutation testing"). Every name
here is fictional."""

from __future__ import annotations

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from casework.models import Person
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db


def api_client(user) -> APIClient:
    client = APIClient()
    _instance, token = AuthToken.objects.create(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def merged(duplicate: Person, into: Person) -> None:
    """The pointer a merge leaves behind (``lifecycle.merge``)."""
    Person.objects.filter(pk=duplicate.pk).update(merged_into=into)


def test_each_old_api_id_leads_to_its_own_kept_record(administrator):
    first_kept, second_kept = f.PersonFactory(given_name="Keptone"), f.PersonFactory(given_name="Kepttwo")
    first_old, second_old = f.PersonFactory(given_name="Oldone"), f.PersonFactory(given_name="Oldtwo")
    merged(first_old, first_kept)
    merged(second_old, second_kept)
    client = api_client(administrator)
    for old, kept in ((first_old, first_kept), (second_old, second_kept)):
        response = client.get(f"/api/v1/persons/{old.pk}/")
        assert response.status_code == 301
        assert response["Location"].endswith(f"/api/v1/persons/{kept.pk}/")


def test_an_old_link_through_two_merges_leads_to_the_record_kept_last(client, administrator):
    """A merge re-points older pointers, but records merged before that rule still chain."""
    first, second, last = (f.PersonFactory(given_name=name) for name in ("Chainone", "Chaintwo", "Chainlast"))
    merged(second, last)
    merged(first, second)
    response = api_client(administrator).get(f"/api/v1/persons/{first.pk}/")
    assert response.status_code == 301
    assert response["Location"].endswith(f"/api/v1/persons/{last.pk}/")
    force_login(client, administrator)
    response = client.get(f"/admin/casework/person/{first.pk}/change/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/casework/person/{last.pk}/change/"


@pytest.mark.parametrize("bad_id", ["abc", "12abc", "1" * 40])
def test_an_id_that_is_not_a_record_number_is_answered_as_missing_through_both_doors(client, administrator, bad_id):
    assert api_client(administrator).get(f"/api/v1/persons/{bad_id}/").status_code == 404
    force_login(client, administrator)
    response = client.get(f"/admin/casework/person/{bad_id}/change/")
    assert response.status_code == 302  # the admin's "does not exist" message on its index
    assert "/change/" not in response["Location"]


def test_the_highest_record_number_is_followed_and_one_past_it_is_missing_through_both_doors(client, administrator):
    """Ids run to the top of the key's range (2**63 - 1, nineteen digits): an old link of
    that number still leads to its kept record; one past it is no record number at all."""
    highest = 2**63 - 1
    kept = f.PersonFactory(given_name="Keptatthetop")
    old = f.PersonFactory(id=highest, given_name="Oldatthetop")
    merged(old, kept)
    api = api_client(administrator)
    response = api.get(f"/api/v1/persons/{highest}/")
    assert response.status_code == 301 and response["Location"].endswith(f"/api/v1/persons/{kept.pk}/")
    force_login(client, administrator)
    response = client.get(f"/admin/casework/person/{highest}/change/")
    assert response.status_code == 302 and response["Location"] == f"/admin/casework/person/{kept.pk}/change/"
    for beyond in (highest + 1, 10**19, 10**30):
        assert api.get(f"/api/v1/persons/{beyond}/").status_code == 404
        response = client.get(f"/admin/casework/person/{beyond}/change/")
        assert response.status_code == 302 and "/change/" not in response["Location"]


# --- found by the selectors' mutation run of this round (README, "Mutation testing") ---------


def test_an_old_link_through_more_merges_than_the_limit_is_answered_as_missing(administrator):
    """A chain of pointers longer than ten merges (``MERGE_CHAIN_LIMIT``: a loop, or data
    written outside the merge service) is not followed to its end: the old link answers 404."""

    def chain(steps: int) -> tuple[Person, Person]:
        people = [f.PersonFactory(given_name=f"Link{steps}x{n}") for n in range(steps + 1)]
        for older, newer in zip(people, people[1:]):
            merged(older, newer)
        return people[0], people[-1]

    client = api_client(administrator)
    first, last = chain(10)
    response = client.get(f"/api/v1/persons/{first.pk}/")
    assert response.status_code == 301 and response["Location"].endswith(f"/api/v1/persons/{last.pk}/")
    first, _last = chain(11)
    assert client.get(f"/api/v1/persons/{first.pk}/").status_code == 404


@pytest.mark.parametrize("status", ["declined", "completed", "withdrawn"])
def test_a_referral_no_longer_active_leaves_the_partners_list(case, agency, partner, status):
    """A referral answered "no", completed or withdrawn grants nothing, though its consent is current."""
    from casework.models import ReferralStatus

    referral = f.ReferralFactory(case=case, agency=agency, status=ReferralStatus.ACCEPTED)
    client = api_client(partner)
    assert [item["id"] for item in client.get("/api/v1/referrals/").json()["results"]] == [referral.pk]
    referral.status = status
    referral.save()
    assert client.get("/api/v1/referrals/").json()["results"] == []
    assert client.get(f"/api/v1/referrals/{referral.pk}/").status_code == 404
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 404


def test_a_caseworker_sees_every_stage_and_follow_up_of_their_programmes_cases(case, other_case, caseworker):
    """Stages and follow-ups are scoped through their own case (not a case that happens to
    share their id)."""
    from programmes.models import StageRecord

    mine = set(StageRecord.objects.filter(enrolment__case=case).values_list("pk", flat=True))
    theirs = set(StageRecord.objects.filter(enrolment__case=other_case).values_list("pk", flat=True))
    assert len(mine) > 1 and len(theirs) > 1
    client = api_client(caseworker)
    listed = {item["id"] for item in client.get("/api/v1/stages/?page_size=200").json()["results"]}
    assert listed == mine
