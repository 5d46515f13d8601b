"""Who reads and records a person's legal proceedings, through each door (the API and the
admin): one rule (``justice.selectors``), audited on read, charges never shown to a partner."""

from __future__ import annotations

import datetime

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.two_factor import two_factor_required
from audit.models import AuditEntry
from casework.models import ConsentPurpose, Referral, ReferralStatus
from core.roles import role_groups_sync
from justice.models import CourtHearing, LegalProceeding
from programmes.models import ProgrammeMembershipRole
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

CHARGES = "Charges sentinel: membership of an armed group"
NOTES = "Hearing notes sentinel"
TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def legal_officer(programme):
    return f.add_member(programme, f.UserFactory(username="legal"), ProgrammeMembershipRole.LEGAL_OFFICER)


@pytest.fixture
def other_supervisor(other_programme):
    return f.add_member(other_programme, f.UserFactory(username="supervisor2"), ProgrammeMembershipRole.SUPERVISOR)


@pytest.fixture
def proceeding(case):
    proceeding = LegalProceeding.objects.create(
        case=case, stage="trial", opened_on=TODAY - datetime.timedelta(days=90), charges=CHARGES
    )
    CourtHearing.objects.create(
        proceeding=proceeding, held_on=TODAY + datetime.timedelta(days=5), court="City court (test)", notes=NOTES
    )
    return proceeding


def legal_aid_referral(case, agency, by, *, status=ReferralStatus.ACCEPTED, purpose=ConsentPurpose.LEGAL_AID):
    consent = f.ConsentFactory(person=case.person, agency=agency, purpose=purpose, recorded_by=by)
    return Referral.objects.create(
        case=case, agency=agency, purpose=purpose, consent=consent, referred_by=by, status=status
    )


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user)[1]}")
    return client


def detail(proceeding):
    return reverse("legal-proceeding-detail", kwargs={"pk": proceeding.pk})


# --- the API -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("legal_officer", 200),
        ("supervisor", 200),
        ("administrator", 200),
        ("caseworker", 404),
        ("other_supervisor", 404),
        ("partner", 404),
    ],
)
def test_who_opens_a_proceeding_through_the_api(request, proceeding, who, expected):
    user = request.getfixturevalue(who)
    response = api(user).get(detail(proceeding))
    assert response.status_code == expected
    listed = api(user).get(reverse("legal-proceeding-list")).json()["results"]
    assert bool(listed) == (expected == 200)
    if expected == 200:
        assert response.json()["charges"] == CHARGES


def test_a_legal_officer_records_a_proceeding_and_a_caseworker_may_not(legal_officer, caseworker, case, other_case):
    body = {"case": case.pk, "stage": "investigation", "opened_on": str(TODAY)}
    assert api(caseworker).post(reverse("legal-proceeding-list"), body, format="json").status_code == 403
    created = api(legal_officer).post(reverse("legal-proceeding-list"), body, format="json")
    assert created.status_code == 201
    assert LegalProceeding.objects.get(pk=created.json()["id"]).created_by == legal_officer
    # Another programme's case is not one the legal officer may pick: a field error, nothing written.
    refused = api(legal_officer).post(reverse("legal-proceeding-list"), {**body, "case": other_case.pk}, format="json")
    assert refused.status_code == 400 and "case" in refused.json()["errors"]
    assert LegalProceeding.objects.count() == 1


def test_an_edit_names_the_version_it_was_based_on(legal_officer, proceeding):
    client = api(legal_officer)
    etag = client.get(detail(proceeding))["ETag"]
    assert client.patch(detail(proceeding), {"stage": "decided"}, format="json").status_code == 428
    assert (
        client.patch(detail(proceeding), {"stage": "decided"}, format="json", HTTP_IF_MATCH='"stale"').status_code
        == 412
    )
    bad = client.patch(detail(proceeding), {"verdict": "convicted"}, format="json", HTTP_IF_MATCH=etag)
    assert bad.status_code == 400  # a verdict needs its date
    ok = client.patch(
        detail(proceeding),
        {"verdict": "convicted", "verdict_on": str(TODAY), "stage": "decided"},
        format="json",
        HTTP_IF_MATCH=etag,
    )
    assert ok.status_code == 200 and ok.json()["verdict"] == "convicted"


def test_a_partner_referred_for_legal_aid_reads_without_the_charges_and_writes_nothing(
    proceeding, partner, agency, caseworker
):
    client = api(partner)
    assert client.get(detail(proceeding)).status_code == 404
    referral = legal_aid_referral(proceeding.case, agency, caseworker, status=ReferralStatus.PENDING)
    # A pending referral shows nothing yet: the agency has not taken the work on.
    assert client.get(detail(proceeding)).status_code == 404
    referral.status = ReferralStatus.ACCEPTED
    referral.save()
    response = client.get(detail(proceeding))
    assert response.status_code == 200
    assert "charges" not in response.json() and CHARGES not in response.content.decode()
    hearings = client.get(reverse("court-hearing-list")).json()["results"]
    assert len(hearings) == 1 and "notes" not in hearings[0]
    assert NOTES not in client.get(reverse("court-hearing-list")).content.decode()
    etag = response["ETag"]
    assert client.patch(detail(proceeding), {"stage": "decided"}, format="json", HTTP_IF_MATCH=etag).status_code == 403
    # Filtering on what it may not read is refused like reading it.
    assert client.get(reverse("legal-proceeding-list"), {"in_custody": "true"}).status_code == 200


def test_a_referral_for_anything_else_shows_no_proceeding(proceeding, partner, agency, caseworker):
    f.ReferralFactory(case=proceeding.case, agency=agency, referred_by=caseworker, status=ReferralStatus.ACCEPTED)
    assert api(partner).get(detail(proceeding)).status_code == 404


def test_legal_aid_needs_its_own_consent(case, agency, caseworker):
    general = f.ConsentFactory(
        person=case.person, agency=agency, purpose=ConsentPurpose.GENERAL, recorded_by=caseworker
    )
    referral = Referral(
        case=case, agency=agency, purpose=ConsentPurpose.LEGAL_AID, consent=general, referred_by=caseworker
    )
    with pytest.raises(Exception, match="does not cover this purpose"):
        referral.full_clean()


def test_reads_are_audited_with_the_person(legal_officer, proceeding):
    api(legal_officer).get(detail(proceeding))
    entry = AuditEntry.objects.filter(action=LogEntry.Action.ACCESS, object_id=proceeding.pk).get()
    assert entry.content_type.model == "legalproceeding"
    assert str(proceeding.case.person_id) in entry.persons
    api(legal_officer).get(reverse("court-hearing-list"))
    assert AuditEntry.objects.filter(action=LogEntry.Action.ACCESS, content_type__model="courthearing").exists()


def test_the_charges_are_encrypted_at_rest_and_withheld_from_the_change_log(proceeding):
    with connection.cursor() as cursor:
        cursor.execute("SELECT charges FROM justice_legalproceeding WHERE id = %s", [proceeding.pk])
        stored = cursor.fetchone()[0]
    assert CHARGES not in stored
    entries = AuditEntry.objects.filter(content_type__model="legalproceeding", object_pk=str(proceeding.pk))
    assert entries.exists()
    assert CHARGES not in " ".join(str(entry.changes) for entry in entries)


def test_the_list_costs_the_same_queries_whatever_its_length(legal_officer, case):
    client = api(legal_officer)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("legal-proceeding-list")).status_code == 200
        return len(queries)

    LegalProceeding.objects.create(case=case, opened_on=TODAY)
    one = count()
    for _ in range(5):
        LegalProceeding.objects.create(case=case, opened_on=TODAY)
    assert count() == one


def test_legal_officers_sign_in_with_a_second_factor(legal_officer):
    assert two_factor_required(legal_officer)


# --- the admin ---------------------------------------------------------------------------


def admin_client(client, user, group="Caseworkers"):
    role_groups_sync()
    user.groups.add(Group.objects.get(name=group))
    return force_login(client, user)


def test_the_admin_shows_proceedings_to_the_legal_officer_and_audits_it(client, legal_officer, proceeding):
    admin_client(client, legal_officer)
    page = client.get(reverse("admin:justice_legalproceeding_change", args=[proceeding.pk]))
    assert page.status_code == 200 and CHARGES in page.content.decode()
    assert AuditEntry.objects.filter(action=LogEntry.Action.ACCESS, object_id=proceeding.pk).exists()
    listing = client.get(reverse("admin:justice_legalproceeding_changelist"))
    assert listing.status_code == 200 and proceeding.case.reference in listing.content.decode()


def test_the_admin_refuses_caseworkers_and_another_programme(client, caseworker, other_supervisor, proceeding):
    admin_client(client, caseworker)
    assert client.get(reverse("admin:justice_legalproceeding_changelist")).status_code == 403
    assert client.get(reverse("admin:justice_legalproceeding_change", args=[proceeding.pk])).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert "Legal proceedings" not in index
    client.logout()
    admin_client(client, other_supervisor, "Supervisors")
    response = client.get(reverse("admin:justice_legalproceeding_change", args=[proceeding.pk]))
    # Answered as a missing row: back to the index, nothing of the proceeding shown.
    assert response.status_code == 302 and CHARGES not in response.content.decode()
    assert AuditEntry.objects.filter(additional_data__refused=True, object_id=proceeding.pk).exists()


def test_the_admin_add_form_offers_only_cases_the_user_records(client, supervisor, case, other_case):
    admin_client(client, supervisor, "Supervisors")
    response = client.post(
        reverse("admin:justice_legalproceeding_add"),
        {
            "case": other_case.pk,
            "stage": "investigation",
            "opened_on": str(TODAY),
            "verdict": "pending",
            "representation": "none",
            "hearings-TOTAL_FORMS": "0",
            "hearings-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and not LegalProceeding.objects.exists()
    response = client.post(
        reverse("admin:justice_legalproceeding_add"),
        {
            "case": case.pk,
            "stage": "investigation",
            "opened_on": str(TODAY),
            "verdict": "pending",
            "representation": "none",
            "hearings-TOTAL_FORMS": "1",
            "hearings-INITIAL_FORMS": "0",
            "hearings-0-held_on": str(TODAY + datetime.timedelta(days=3)),
            "hearings-0-court": "City court (test)",
            "hearings-0-outcome": "scheduled",
        },
    )
    assert response.status_code == 302
    created = LegalProceeding.objects.get()
    assert created.case == case and created.created_by == supervisor and created.hearings.count() == 1


def test_retention_erases_the_free_text_of_the_proceedings(proceeding):
    from lifecycle import retention

    proceeding.authority, proceeding.representative = "Authority (test)", "Counsel (test)"
    proceeding.save()
    retention.cases_anonymise(case_ids=[proceeding.case_id])
    proceeding.refresh_from_db()
    assert proceeding.charges == retention.ANONYMISED
    assert (proceeding.authority, proceeding.representative) == (retention.ANONYMISED, retention.ANONYMISED)
    assert proceeding.hearings.get().notes == retention.ANONYMISED
