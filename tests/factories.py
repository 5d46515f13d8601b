"""factory_boy factories for the domain. Names are clearly fictional."""

import datetime

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from casework import models as cw
from programmes import models as pg
from programmes import services


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@test.rehab.example")
    is_staff = True
    password = factory.django.Password("test-password-123")


class ProgrammeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pg.Programme
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"prog{n}")
    name = factory.Sequence(lambda n: f"Test programme {n}")
    country = "KZ"
    time_zone = "Asia/Almaty"

    @factory.post_generation
    def catalogue(programme, create, extracted, **kwargs):
        if create and extracted is not False:
            services.stage_catalogue_install(programme=programme)


def add_member(programme, user, role):
    pg.ProgrammeMembership.objects.create(programme=programme, user=user, role=role)
    return user


class OperationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cw.RepatriationOperation

    code = factory.Sequence(lambda n: f"op-{n}")
    name = factory.Sequence(lambda n: f"Test operation {n}")
    operation_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=10))
    origin_country = "SY"


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cw.Person

    given_name = factory.Sequence(lambda n: f"Testgiven{n}")
    family_name = "Samplova"
    sex = cw.Sex.FEMALE
    date_of_birth = datetime.date(1990, 5, 17)


def born_years_ago(years: int, on: datetime.date | None = None) -> datetime.date:
    """A birthday that makes the person exactly ``years`` old (and not a day more) on ``on``."""
    on = on or timezone.localdate()
    try:
        birthday = on.replace(year=on.year - years)
    except ValueError:  # 29 February
        birthday = on.replace(year=on.year - years, day=28)
    return birthday - datetime.timedelta(days=1)


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cw.Case

    reference = factory.Sequence(lambda n: f"T-{n:05d}")
    person = factory.SubFactory(PersonFactory)
    arrival_date = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=10))


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cw.Agency

    code = factory.Sequence(lambda n: f"agency-{n}")
    name = factory.Sequence(lambda n: f"Test agency {n}")
    kind = cw.AgencyKind.NGO


class ConsentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cw.Consent

    person = factory.SubFactory(PersonFactory)
    purpose = cw.ConsentPurpose.PSYCHOSOCIAL
    given_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=5))
    recorded_by = factory.SubFactory(UserFactory)


class ReferralFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cw.Referral

    case = factory.SubFactory(CaseFactory)
    agency = factory.SubFactory(AgencyFactory)
    purpose = cw.ConsentPurpose.PSYCHOSOCIAL
    consent = factory.LazyAttribute(lambda r: ConsentFactory(person=r.case.person, agency=r.agency, purpose=r.purpose))
    referred_by = factory.SubFactory(UserFactory)


def enrol(case, programme, *, by=None, enrolled_on=None):
    return services.enrolment_create(case=case, programme=programme, by=by, enrolled_on=enrolled_on)


def housed_with_work(case, by, *, settlement="Kosshy (test)"):
    """A case's morning work: housed in ``settlement`` eight days ago, a home visit three days
    overdue, the documents stage blocked waiting for the birth record."""
    from programmes import workflow
    from programmes.models import FollowUp, HousingPlacement, StageRecord

    today = case.enrolments.get().programme.local_today()
    housing = StageRecord.objects.get(enrolment__case=case, stage_type__code="housing")
    HousingPlacement.objects.create(
        stage=housing,
        address="12 Orchard Street, Kosshy (test)",
        settlement=settlement,
        living_with="relatives",
        moved_in_on=today - datetime.timedelta(days=8),
    )
    FollowUp.objects.create(stage=housing, kind="visit", due_date=today - datetime.timedelta(days=3))
    documents = StageRecord.objects.get(enrolment__case=case, stage_type__code="documents")
    workflow.stage_start(stage_id=documents.pk, by=by)
    workflow.stage_block(stage_id=documents.pk, by=by, reason="Waiting for the birth record (test).")
    return case
