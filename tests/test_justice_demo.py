"""seed_demo's justice track: men under investigation, on trial, in custody and released, in
proportions like the Kazakh figures, each with the plan their custody or release gives."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from casework.models import Case, LegalStatus
from justice.models import LegalProceeding
from programmes.models import StageRecord, StageTrack

pytestmark = pytest.mark.django_db


def test_the_demo_has_men_in_custody_on_trial_and_released(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--size", "350", "--seed", "7", stdout=out, verbosity=0)
    assert "LegalProceeding" in out.getvalue()
    proceedings = LegalProceeding.objects.select_related("case__person")
    convicted = proceedings.filter(verdict="convicted")
    # 25 convicted of about 700 people brought home, or most of the demo's men where it has fewer.
    assert 5 <= convicted.count() <= round(Case.objects.count() * 25 / 700)
    assert {p.case.person.sex for p in proceedings} == {"male"}
    serving = convicted.filter(actual_release_on__isnull=True)
    released = convicted.filter(actual_release_on__isnull=False)
    assert serving.count() == round(convicted.count() * 0.6) and released.exists()
    assert proceedings.filter(stage="trial").exists()
    assert proceedings.filter(stage="trial", detained_since__isnull=True).exists()
    assert proceedings.filter(hearings__outcome="scheduled").exists()
    for proceeding in serving:
        assert proceeding.expected_release_on > proceeding.detained_since
        tracks = set(
            StageRecord.objects.filter(enrolment__case=proceeding.case, status="active").values_list(
                "stage_type__track", flat=True
            )
        )
        assert tracks == {StageTrack.DETENTION}
    for proceeding in released:
        assert StageRecord.objects.filter(
            enrolment__case=proceeding.case, stage_type__track=StageTrack.COMMUNITY, status="active"
        ).exists()
    # The case's legal status follows its proceedings.
    assert set(Case.objects.filter(legal_status=LegalStatus.SERVING_SENTENCE)) == {p.case for p in serving}
    assert not Case.objects.filter(legal_proceedings__isnull=True).exclude(legal_status=LegalStatus.NONE).exists()
    # A reset deletes them with the rest.
    call_command("seed_demo", "--size", "20", "--seed", "7", "--reset", stdout=StringIO(), verbosity=0)
    assert LegalProceeding.objects.count() <= 3
