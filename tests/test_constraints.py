"""The database itself refuses inconsistent data, whatever door it comes through."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from casework.models import Case, CaseStatus, FamilyMembership, Person, Relationship
from programmes.models import (
    DocumentRequest,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    FollowUpKind,
    SchoolLevel,
    SchoolPlacement,
    StageRecord,
    StageStatus,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def refused_by_database(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_second_active_enrolment_is_refused_by_the_database(case, programme):
    refused_by_database(lambda: Enrolment.objects.create(case=case, programme=programme, enrolled_on=case.arrival_date))
    assert Enrolment.objects.filter(case=case).count() == 1


def test_a_new_enrolment_is_allowed_once_the_last_one_ended(case, programme):
    enrolment = case.enrolments.get()
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.ended_on = enrolment.enrolled_on
    enrolment.save()
    Enrolment.objects.create(case=case, programme=programme, enrolled_on=case.arrival_date)
    assert case.enrolments.count() == 2


def test_one_stage_record_per_stage_type_per_enrolment(case):
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    refused_by_database(
        lambda: StageRecord.objects.create(
            enrolment=stage.enrolment,
            stage_type=stage.stage_type,
            planned_start=stage.planned_start,
            due_date=stage.due_date,
        )
    )


def test_due_date_before_start_is_refused_by_database_and_full_clean(case):
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    stage.due_date = stage.planned_start - datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        stage.full_clean()
    assert "The due date cannot be before the planned start." in str(error.value)
    refused_by_database(stage.save)
    stage.refresh_from_db()
    assert stage.due_date >= stage.planned_start


def test_status_needs_its_dates(case):
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    stage.status = StageStatus.COMPLETED
    refused_by_database(stage.save)
    stage.status = StageStatus.ACTIVE
    refused_by_database(stage.save)


def test_person_born_in_the_future_is_refused_by_full_clean():
    person = f.PersonFactory.build(date_of_birth=datetime.date.today() + datetime.timedelta(days=1))
    with pytest.raises(ValidationError) as error:
        person.full_clean()
    assert error.value.message_dict["date_of_birth"] == ["The date of birth cannot be in the future."]
    assert not Person.objects.exists()


def test_unknown_choice_is_refused_by_the_database():
    refused_by_database(lambda: f.PersonFactory(sex="x"))


def test_one_open_case_per_person(case):
    refused_by_database(
        lambda: Case.objects.create(reference="N-0002", person=case.person, arrival_date=case.arrival_date)
    )
    case.status = CaseStatus.CLOSED
    case.closed_on = case.opened_on
    case.save()
    Case.objects.create(reference="N-0002", person=case.person, arrival_date=case.arrival_date)


def test_a_family_has_one_head():
    family = f.cw.Family.objects.create(reference="F-1")
    FamilyMembership.objects.create(family=family, person=f.PersonFactory(), relationship=Relationship.HEAD)
    refused_by_database(
        lambda: FamilyMembership.objects.create(family=family, person=f.PersonFactory(), relationship=Relationship.HEAD)
    )


def test_follow_up_done_needs_an_outcome(case):
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    refused_by_database(
        lambda: FollowUp.objects.create(
            stage=stage, kind=FollowUpKind.CALL, due_date=stage.due_date, done_on=stage.due_date
        )
    )


def test_stage_details_are_checked(case):
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    refused_by_database(
        lambda: SchoolPlacement.objects.create(
            stage=stage,
            institution="Kindergarten (test)",
            level=SchoolLevel.KINDERGARTEN,
            grade=3,
            enrolled_on=case.arrival_date,
        )
    )
    refused_by_database(
        lambda: DocumentRequest.objects.create(
            stage=stage, document_type="passport", status="issued", requested_on=case.arrival_date
        )
    )


def test_referral_needs_a_consent_that_covers_it(case, agency):
    other_agency = f.AgencyFactory()
    consent = f.ConsentFactory(person=case.person, agency=other_agency)
    referral = f.cw.Referral(
        case=case, agency=agency, purpose=consent.purpose, consent=consent, referred_by=case.caseworker
    )
    with pytest.raises(ValidationError, match="does not cover this agency"):
        referral.full_clean()
