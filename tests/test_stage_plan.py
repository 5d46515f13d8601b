"""Enrolling a case generates its stage plan from the programme's catalogue, by age."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from casework.models import Sex
from programmes.models import Enrolment, StageRecord, StageStatus
from tests import factories as f


def plan_codes(case, programme, *, on=None):
    enrolment = f.enrol(case, programme, enrolled_on=on)
    return [stage.stage_type.code for stage in enrolment.stages.select_related("stage_type")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "age, expected",
    [
        (0, ["accommodation", "psychological", "documents", "housing"]),
        (4, ["accommodation", "psychological", "preschool", "documents", "housing"]),
        (10, ["accommodation", "psychological", "school", "documents", "housing"]),
        (17, ["accommodation", "psychological", "school", "documents", "housing"]),
        (18, ["accommodation", "psychological", "documents", "housing", "employment"]),
        (35, ["accommodation", "psychological", "documents", "housing", "employment"]),
    ],
)
def test_stage_plan_follows_age(programme, age, expected):
    today = programme.local_today()
    case = f.CaseFactory(person=f.PersonFactory(date_of_birth=f.born_years_ago(age, today)))
    assert plan_codes(case, programme, on=today) == expected


@pytest.mark.django_db
def test_age_band_edges_use_the_enrolment_day(programme):
    enrolled_on = datetime.date(2026, 3, 1)
    # Turns 6 the day after enrolment: still preschool.
    person = f.PersonFactory(date_of_birth=datetime.date(2020, 3, 2), sex=Sex.MALE)
    case = f.CaseFactory(person=person, arrival_date=datetime.date(2026, 2, 20))
    assert "preschool" in plan_codes(case, programme, on=enrolled_on)


@pytest.mark.django_db
def test_stage_dates_count_from_arrival(programme, caseworker):
    arrival = datetime.date(2026, 11, 1)
    case = f.CaseFactory(arrival_date=arrival, caseworker=caseworker)
    enrolment = f.enrol(case, programme, enrolled_on=arrival)
    stages = {s.stage_type.code: s for s in enrolment.stages.select_related("stage_type")}
    assert stages["accommodation"].planned_start == arrival
    assert stages["accommodation"].due_date == arrival + datetime.timedelta(days=30)
    assert stages["housing"].planned_start == arrival + datetime.timedelta(days=30)
    assert all(s.status == StageStatus.PLANNED for s in stages.values())
    assert all(s.responsible_user == caseworker for s in stages.values())


@pytest.mark.django_db
def test_inactive_stage_types_are_not_planned(programme):
    programme.stage_types.filter(code="psychological").update(is_active=False)
    case = f.CaseFactory()
    assert "psychological" not in plan_codes(case, programme)


@pytest.mark.django_db
def test_second_active_enrolment_is_refused_by_the_service_and_nothing_is_saved(programme):
    case = f.CaseFactory()
    f.enrol(case, programme)
    stages_before = StageRecord.objects.count()
    with pytest.raises(ValidationError, match="already has an active enrolment"):
        f.enrol(case, programme)
    assert Enrolment.objects.filter(case=case).count() == 1
    assert StageRecord.objects.count() == stages_before


@pytest.mark.django_db
def test_catalogue_install_is_idempotent(programme):
    from programmes.services import stage_catalogue_install

    before = programme.stage_types.count()
    stage_catalogue_install(programme=programme)
    assert programme.stage_types.count() == before == 7
