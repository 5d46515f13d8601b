"""The plan follows the person through detention: custody blocks the standard plan and adds
the detention plan; the release ends it and starts the community plan, with follow-ups
timed from the day of release."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from justice import plan, services
from justice.models import LegalProceeding
from programmes.models import FollowUp, ProgrammeMembershipRole, StageKind, StageStatus, StageTrack, StageTransition
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def legal_officer(programme):
    plan.catalogue_install(programme=programme)
    return f.add_member(programme, f.UserFactory(username="legal"), ProgrammeMembershipRole.LEGAL_OFFICER)


@pytest.fixture
def today(programme):
    return programme.local_today()


def stages(case, track):
    return {
        stage.stage_type.code: stage
        for stage in case.enrolments.get().stages.filter(stage_type__track=track).select_related("stage_type")
    }


def record(proceeding, by, **changes):
    for name, value in changes.items():
        setattr(proceeding, name, value)
    return services.proceeding_save(proceeding=proceeding, by=by)


def test_enrolment_plans_the_standard_track_only(case, legal_officer, programme):
    other = f.CaseFactory(caseworker=case.caseworker)
    f.enrol(other, programme)
    assert stages(other, StageTrack.DETENTION) == {} and stages(other, StageTrack.COMMUNITY) == {}
    assert stages(other, StageTrack.STANDARD)


def test_custody_blocks_the_standard_plan_and_starts_the_detention_plan(case, legal_officer, today):
    proceeding = record(
        LegalProceeding(case=case, stage="trial", opened_on=today - datetime.timedelta(days=40)),
        legal_officer,
        detained_since=today - datetime.timedelta(days=30),
        detention_place="Pre-trial centre (test)",
    )
    standard = stages(case, StageTrack.STANDARD).values()
    assert {stage.status for stage in standard} <= {StageStatus.BLOCKED, StageStatus.COMPLETED}
    assert all(stage.status_reason == plan.IN_CUSTODY for stage in standard if stage.status == StageStatus.BLOCKED)
    detention = stages(case, StageTrack.DETENTION)
    assert set(detention) == {
        "detention-psychological",
        "detention-education",
        "detention-documents",
        "detention-family-contact",
    }
    care = detention["detention-psychological"]
    assert care.status == StageStatus.ACTIVE and care.started_on == proceeding.detained_since
    # Its follow-up is timed from the first day in custody (every 30 days).
    assert care.follow_ups.get().due_date == proceeding.detained_since + datetime.timedelta(days=30)
    # Each change is a transition by the legal officer.
    assert StageTransition.objects.filter(stage__enrolment__case=case, action="block", by=legal_officer).exists()


def test_the_release_switches_to_the_community_plan(case, legal_officer, today):
    proceeding = record(
        LegalProceeding(case=case, stage="decided", opened_on=today - datetime.timedelta(days=200)),
        legal_officer,
        verdict="convicted",
        verdict_on=today - datetime.timedelta(days=150),
        sentence_kind="imprisonment",
        sentence_months=6,
        sentence_start=today - datetime.timedelta(days=180),
        detained_since=today - datetime.timedelta(days=180),
    )
    released_on = today - datetime.timedelta(days=2)
    record(
        proceeding,
        legal_officer,
        actual_release_on=released_on,
        reporting_duty="Weekly at the district office (test)",
        reporting_until=today + datetime.timedelta(days=300),
    )
    detention = stages(case, StageTrack.DETENTION)
    assert {stage.status for stage in detention.values()} <= {StageStatus.COMPLETED, StageStatus.DISCONTINUED}
    assert detention["detention-psychological"].completed_on == released_on
    community = stages(case, StageTrack.COMMUNITY)
    assert set(community) == {"community-housing", "community-employment", "community-reporting"}
    for stage in community.values():
        assert stage.status == StageStatus.ACTIVE and stage.started_on == released_on
        interval = stage.stage_type.follow_up_interval_days
        assert stage.follow_ups.get().due_date == released_on + datetime.timedelta(days=interval)
    assert community["community-reporting"].due_date == today + datetime.timedelta(days=300)
    # Standard stages blocked for custody: housing and employment are replaced, the rest resume.
    standard = stages(case, StageTrack.STANDARD)
    for stage in standard.values():
        if stage.stage_type.kind in (StageKind.HOUSING, StageKind.EMPLOYMENT):
            assert stage.status == StageStatus.DISCONTINUED and stage.status_reason == plan.REPLACED
        else:
            assert stage.status != StageStatus.BLOCKED


def test_a_release_is_recorded_once_and_never_in_the_future(case, legal_officer, today):
    proceeding = record(
        LegalProceeding(case=case, opened_on=today - datetime.timedelta(days=30)),
        legal_officer,
        detained_since=today - datetime.timedelta(days=20),
    )
    with pytest.raises(ValidationError):
        record(proceeding, legal_officer, actual_release_on=today + datetime.timedelta(days=5))
    proceeding.refresh_from_db()
    record(proceeding, legal_officer, actual_release_on=today)
    community = len(stages(case, StageTrack.COMMUNITY))
    follow_ups = FollowUp.objects.count()
    # A second save changes neither the release nor the plan.
    record(proceeding, legal_officer, actual_release_on=today - datetime.timedelta(days=1), authority="Edited (test)")
    proceeding.refresh_from_db()
    assert proceeding.actual_release_on == today and proceeding.authority == "Edited (test)"
    assert len(stages(case, StageTrack.COMMUNITY)) == community and FollowUp.objects.count() == follow_ups
