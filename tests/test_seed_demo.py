"""seed_demo: deterministic, shaped like the real caseload, with the demo accounts."""

import datetime
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from casework.models import ADULT_AGE, Case, PersonName, Sex
from casework.selectors import case_visible_to
from programmes.demo import demo_data_reset, demo_seed
from programmes.models import FollowUp, StageRecord, StageStatus

pytestmark = pytest.mark.django_db

DAY = datetime.date(2026, 11, 23)


def snapshot():
    """Everything that makes the data what it is, without database ids."""
    return {
        "cases": sorted(
            Case.objects.values_list(
                "reference",
                "person__given_name",
                "person__family_name",
                "person__date_of_birth",
                "status",
                "risk_level",
                "legal_status",
                "arrival_date",
                "caseworker__username",
                "family__reference",
            ),
            key=repr,
        ),
        "names": sorted(
            PersonName.objects.values_list(
                "person__family_memberships__family__reference", "full_name", "script", "kind"
            ),
            key=repr,
        ),
        "stages": sorted(
            StageRecord.objects.values_list(
                "enrolment__case__reference",
                "stage_type__code",
                "status",
                "planned_start",
                "due_date",
                "started_on",
                "completed_on",
            ),
            key=repr,
        ),
        "follow_ups": sorted(
            FollowUp.objects.values_list(
                "stage__enrolment__case__reference", "stage__stage_type__code", "due_date", "done_on"
            ),
            key=repr,
        ),
    }


def test_same_seed_same_data_and_another_seed_other_data():
    demo_seed(size=60, seed=7, today=DAY)
    first = snapshot()
    demo_data_reset()
    demo_seed(size=60, seed=7, today=DAY)
    assert snapshot() == first
    demo_data_reset()
    demo_seed(size=60, seed=8, today=DAY)
    assert snapshot() != first


def test_caseload_is_shaped_like_the_real_one():
    demo_seed(size=300, seed=2026, today=DAY)
    cases = list(Case.objects.select_related("person"))
    assert len(cases) >= 300
    children = [c for c in cases if c.person.age_on(c.arrival_date) < ADULT_AGE]
    men = [c for c in cases if c.person.age_on(c.arrival_date) >= ADULT_AGE and c.person.sex == Sex.MALE]
    women = [c for c in cases if c.person.age_on(c.arrival_date) >= ADULT_AGE and c.person.sex == Sex.FEMALE]
    assert len(children) > len(women) > len(men) > 0
    statuses = set(StageRecord.objects.values_list("status", flat=True))
    assert statuses == set(StageStatus.values)
    assert FollowUp.objects.filter(done_on__isnull=True, due_date__lt=DAY).exists()
    # Names recorded in three scripts.
    assert set(PersonName.objects.values_list("script", flat=True)) >= {"latin", "cyrillic", "arabic"}
    # The partner sees some cases, not all.
    from django.contrib.auth import get_user_model

    partner = get_user_model().objects.get(username="partner")
    assert 0 < case_visible_to(partner).count() < len(cases) / 4


def test_command_refuses_to_create_known_passwords_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG off"):
        call_command("seed_demo", "--size", "5", stdout=StringIO())
    assert not Case.objects.exists()


def test_command_prints_working_demo_logins(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--size", "20", "--seed", "3", stdout=out, verbosity=0)
    printed = dict(
        line.split() for line in out.getvalue().splitlines() if line.startswith("  ") and len(line.split()) == 2
    )
    for username in ("admin", "supervisor", "caseworker", "caseworker2", "partner"):
        assert authenticate(username=username, password=printed[username]) is not None, username
    caseworker2 = get_user("caseworker2")
    caseworker = get_user("caseworker")
    assert not set(case_visible_to(caseworker)) & set(case_visible_to(caseworker2))

    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", "--size", "20", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "left as it is" in out.getvalue() and "partner" in out.getvalue()


def get_user(username):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def test_the_demo_has_a_cohort_import_waiting_for_review(settings):
    """After `make run` a newcomer finds the review queue with rows in it: two people of the
    manifest are on file already, one family is new and registered at once."""
    from lifecycle.cohort_import import pending_rows_visible_to
    from lifecycle.models import CohortImport

    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--size", "40", "--seed", "5", stdout=out, verbosity=0)
    record = CohortImport.objects.get()
    assert (record.programme.code, record.created_by.username) == ("north", "caseworker")
    assert record.created_persons == 2 and record.awaiting_review == 2
    pending = pending_rows_visible_to(get_user("caseworker"))
    assert pending.count() == 2
    assert all(row.candidates for row in pending)
    assert not pending_rows_visible_to(get_user("caseworker2")).exists()
    assert "2 rows awaiting review" in out.getvalue()
    # --reset replaces the caseload, the import with it.
    call_command("seed_demo", "--size", "40", "--seed", "5", "--reset", stdout=StringIO(), verbosity=0)
    assert CohortImport.objects.count() == 1


def test_the_demo_agencies_log_in_and_see_what_their_referrals_share(settings):
    """The school, the civil registry and the psychological service each have a user who logs in
    with the printed password, accepted and pending referrals on a current consent, and sees
    only the stages of its own kind on the accepted ones."""
    from casework.models import ReferralStatus
    from casework.selectors import referral_visible_to
    from programmes.models import StageKind
    from programmes.selectors import stage_visible_to

    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", "--size", "120", "--seed", "4", "--today", DAY.isoformat(), stdout=out, verbosity=0)
    printed = dict(
        line.split() for line in out.getvalue().splitlines() if line.startswith("  ") and len(line.split()) == 2
    )
    kinds = {"school": StageKind.SCHOOLING, "registry": StageKind.DOCUMENTS, "psychologist": StageKind.PSYCHOLOGICAL}
    for username, kind in kinds.items():
        assert printed[username] == f"{username}-demo-4"
        user = authenticate(username=username, password=printed[username])
        assert user is not None and not user.is_staff, username
        referrals = list(referral_visible_to(user).select_related("consent", "case__person"))
        statuses = {referral.status for referral in referrals}
        assert statuses == {ReferralStatus.ACCEPTED, ReferralStatus.PENDING}, username
        assert all(r.consent.agency_id == r.agency_id and r.consent.is_current(DAY) for r in referrals)
        # The cases it accepted; a pending referral shows the referral alone.
        accepted = {r.case for r in referrals if r.status == ReferralStatus.ACCEPTED}
        assert set(case_visible_to(user)) == accepted
        pending = {r.case for r in referrals if r.status == ReferralStatus.PENDING}
        assert not set(case_visible_to(user)) & (pending - accepted)
        seen_kinds = set(stage_visible_to(user).values_list("stage_type__kind", flat=True))
        assert seen_kinds <= {kind}, username
        if username == "school":
            assert all(6 <= r.case.person.age_on(DAY) < ADULT_AGE for r in referrals)
    # Each agency sees its own cases only.
    assert not set(case_visible_to(get_user("school"))) & set(case_visible_to(get_user("registry")))


def test_the_demo_resets_after_partners_have_read_through_the_api(settings):
    """A partner's reads are in the append-only audit trail with the agency it acted for:
    `seed_demo --reset` keeps that agency (without members) and takes it up again."""
    from django.urls import reverse
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    from audit.models import AuditEntry
    from casework.models import Agency
    from tests import factories as f

    settings.DEBUG = True
    call_command("seed_demo", "--size", "30", "--seed", "5", stdout=StringIO(), verbosity=0)
    partner = get_user("partner")
    agency = Agency.objects.get(members=partner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(partner)[1]}")
    case = case_visible_to(partner).first()
    assert client.get(reverse("case-detail", kwargs={"pk": case.pk})).status_code == 200
    assert AuditEntry.objects.filter(agency=agency).exists()
    f.AgencyFactory(code="unnamed-by-the-trail")

    out, err = StringIO(), StringIO()
    call_command("seed_demo", "--size", "30", "--seed", "5", "--reset", stdout=out, stderr=err, verbosity=1)
    # The same agency row, its partner a member again; an agency the trail does not name is gone.
    assert Agency.objects.get(code=agency.code).pk == agency.pk
    assert set(Agency.objects.get(members=get_user("partner")).members.all()) == {get_user("partner")}
    assert not Agency.objects.filter(code="unnamed-by-the-trail").exists()
    assert case_visible_to(get_user("partner")).exists()
    # Each writing step is told as it ends, with its time.
    assert "writing cases, enrolments and stage plans:" in err.getvalue()
