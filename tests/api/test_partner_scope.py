"""What a partner agency and a caseworker reach of a case, through the API: a referral
covers the stages its purpose names in the catalogue, once accepted; the caseworker
field gives a case only to a member of the case's programme."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from casework.models import AgencyKind, Case, ConsentPurpose, ReferralStatus
from programmes.models import FollowUp, ProgrammeMembership, StageKind, StageRecord, StageType
from programmes.selectors import stage_visible_to
from programmes.services import stage_catalogue_install
from tests import factories as f

pytestmark = pytest.mark.django_db


def url(name: str, obj) -> str:
    return reverse(name, kwargs={"pk": obj.pk})


def stage_of(world, kind: str) -> StageRecord:
    return world.case.enrolments.get().stages.get(stage_type__kind=kind)


def listed_ids(client, name: str) -> set[int]:
    response = client.get(reverse(name), {"page_size": 100})
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


# --- Finding 1: partners act outside what the referral is for -------------------------------


def test_partners_act_outside_what_the_referral_is_for(world):
    """Referred for psychosocial support (accepted), the partner works on the psychological
    stage only: the documents and housing stages, and their home visits, answer 404."""
    client = world.client("partner")
    documents = stage_of(world, StageKind.DOCUMENTS)
    housing = stage_of(world, StageKind.HOUSING)
    psychological = stage_of(world, StageKind.PSYCHOLOGICAL)
    StageRecord.objects.filter(pk=documents.pk).update(status="active", started_on=timezone.localdate())
    StageRecord.objects.filter(pk=housing.pk).update(status="blocked", status_reason="Waiting (test)")
    home_visit = FollowUp.objects.create(
        stage=housing,
        kind="visit",
        due_date=timezone.localdate(),
        done_on=timezone.localdate(),
        outcome="Home visit outcome (test)",
    )

    response = client.post(url("stage-complete", documents), {"outcome": "Issued (test)"}, format="json")
    assert response.status_code == 404
    assert client.post(url("stage-unblock", housing), {}, format="json").status_code == 404
    assert client.get(url("stage-detail", housing)).status_code == 404
    assert client.get(url("follow-up-detail", home_visit)).status_code == 404
    documents.refresh_from_db()
    housing.refresh_from_db()
    assert (documents.status, housing.status) == ("active", "blocked")

    assert client.get(url("stage-detail", psychological)).status_code == 200
    assert client.get(url("follow-up-detail", world.follow_up)).status_code == 200
    assert listed_ids(client, "stage-list") == {psychological.pk}
    assert listed_ids(client, "follow-up-list") == {world.follow_up.pk}
    assert "Home visit outcome" not in client.get(reverse("follow-up-list")).content.decode()


def test_a_pending_referral_shows_the_referral_alone(world):
    world.referral.status = ReferralStatus.PENDING
    world.referral.save()
    client = world.client("partner")
    # What the agency needs to decide: the referral, with an age band, not who it is about.
    referral = client.get(url("referral-detail", world.referral))
    assert referral.status_code == 200 and "case" not in referral.json() and "age_band" in referral.json()
    assert client.get(url("case-detail", world.case)).status_code == 404
    assert client.get(url("person-detail", world.person)).status_code == 404
    assert listed_ids(client, "case-list") == set() and listed_ids(client, "person-list") == set()
    # Nothing of the work before it is accepted.
    assert client.get(url("stage-detail", world.stage)).status_code == 404
    assert client.post(url("stage-start", world.stage), {}, format="json").status_code == 404
    assert client.get(url("follow-up-detail", world.follow_up)).status_code == 404
    assert client.get(url("enrolment-detail", world.case.enrolments.get())).status_code == 404
    assert listed_ids(client, "stage-list") == set()
    assert listed_ids(client, "follow-up-list") == set()
    assert listed_ids(client, "enrolment-list") == set()

    assert client.post(url("referral-accept", world.referral)).status_code == 200
    assert client.get(url("stage-detail", world.stage)).status_code == 200
    assert client.get(url("case-detail", world.case)).status_code == 200


def test_a_referral_of_one_stage_covers_it_only_if_its_purpose_does(world):
    world.referral.status = ReferralStatus.COMPLETED
    world.referral.save()
    housing = stage_of(world, StageKind.HOUSING)
    psychological = stage_of(world, StageKind.PSYCHOLOGICAL)
    for stage in (housing, psychological):
        f.ReferralFactory(
            case=world.case,
            agency=world.agency,
            stage=stage,
            status=ReferralStatus.ACCEPTED,
            purpose=ConsentPurpose.PSYCHOSOCIAL if stage == psychological else ConsentPurpose.EMPLOYMENT,
        )
    client = world.client("partner")
    assert listed_ids(client, "stage-list") == {psychological.pk}
    assert client.get(url("stage-detail", housing)).status_code == 404


def test_the_catalogue_decides_which_stages_a_purpose_covers(world):
    housing = stage_of(world, StageKind.HOUSING)
    client = world.client("partner")
    assert client.get(url("stage-detail", housing)).status_code == 404
    StageType.objects.filter(pk=housing.stage_type_id).update(
        referral_purposes=[ConsentPurpose.GENERAL, ConsentPurpose.HOUSING, ConsentPurpose.PSYCHOSOCIAL]
    )
    assert client.get(url("stage-detail", housing)).status_code == 200
    StageType.objects.filter(pk=world.stage.stage_type_id).update(referral_purposes=[])
    assert client.get(url("stage-detail", world.stage)).status_code == 404


def test_a_specialised_agency_sees_its_kind_of_stage_only_even_with_general_consent(world):
    world.agency.kind = AgencyKind.CIVIL_REGISTRY
    world.agency.save()
    world.referral.status = ReferralStatus.COMPLETED
    world.referral.save()
    f.ReferralFactory(
        case=world.case, agency=world.agency, purpose=ConsentPurpose.GENERAL, status=ReferralStatus.ACCEPTED
    )
    kinds = set(stage_visible_to(world.users["partner"]).values_list("stage_type__kind", flat=True))
    assert kinds == {StageKind.DOCUMENTS}


def test_the_catalogue_lists_the_purposes_that_cover_each_stage(programme):
    purposes = dict(programme.stage_types.values_list("code", "referral_purposes"))
    assert purposes["psychological"] == ["general", "psychosocial", "health"]
    assert purposes["school"] == ["general", "schooling"]
    assert purposes["accommodation"] == ["general"]
    # Installing again keeps a programme's own choice when the file does not say.
    StageType.objects.filter(programme=programme, code="housing").update(referral_purposes=["housing"])
    stage_catalogue_install(programme=programme)
    assert programme.stage_types.get(code="housing").referral_purposes == ["general", "housing"]


# --- Finding 3: the caseworker field hands a case to anyone ---------------------------------


def test_the_caseworker_field_hands_a_case_to_anyone(world):
    # A forged write: a partner agency's user named caseworker of a case not referred to it.
    partner = world.users["partner_without_referral"]
    Case.objects.filter(pk=world.case.pk).update(caseworker=partner)
    client = world.client("partner_without_referral")
    for name, obj in (
        ("case-detail", world.case),
        ("person-detail", world.person),
        ("person-detail", world.relative),
        ("family-detail", world.family),
        ("stage-detail", world.stage),
        ("follow-up-detail", world.follow_up),
    ):
        assert client.get(url(name, obj)).status_code == 404, name
    assert world.case.pk not in listed_ids(client, "case-list")
    assert world.relative.pk not in listed_ids(client, "person-list")


def test_the_caseworker_field_gives_no_case_of_another_programme(world):
    Case.objects.filter(pk=world.case.pk).update(caseworker=world.users["other_caseworker"])
    client = world.client("other_caseworker")
    assert client.get(url("case-detail", world.case)).status_code == 404
    assert client.get(url("person-detail", world.relative)).status_code == 404


def test_removing_a_caseworkers_programme_role_ends_access_to_their_assigned_cases(world):
    client = world.client("caseworker")
    assert client.get(url("case-detail", world.case)).status_code == 200
    ProgrammeMembership.objects.filter(user=world.users["caseworker"]).delete()
    assert client.get(url("case-detail", world.case)).status_code == 404
    assert client.get(url("person-detail", world.person)).status_code == 404


def test_a_case_not_yet_enrolled_is_seen_by_its_caseworker_while_they_hold_a_role(world):
    caseworker = world.users["caseworker"]
    waiting = f.CaseFactory(caseworker=caseworker)
    client = world.client("caseworker")
    assert client.get(url("case-detail", waiting)).status_code == 200
    assert world.client("other_caseworker").get(url("case-detail", waiting)).status_code == 404
    ProgrammeMembership.objects.filter(user=caseworker).delete()
    assert client.get(url("case-detail", waiting)).status_code == 404
