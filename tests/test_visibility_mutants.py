"""Which accounts each door offers for a foreign key to a user, and how the rules of the
access layer (core/visibility.py) are registered: the cases mutation testing found
untested (README, "Mutation testing")."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import UserPreference
from casework.models import Agency, Case, Referral
from core import visibility
from core.roles import role_groups_sync
from programmes.models import Enrolment, ProgrammeMembership
from tests import factories as f
from tests.conftest import force_login

pytestmark = pytest.mark.django_db

CASEWORKER_FIELD = Case._meta.get_field("caseworker")
ANY_ACCOUNT = [
    ProgrammeMembership._meta.get_field("user"),
    Agency._meta.get_field("members"),
    UserPreference._meta.get_field("user"),
]


@pytest.fixture
def accounts(caseworker, other_caseworker, supervisor, administrator, partner):
    return {"caseworker", "caseworker2", "supervisor"}


def offered(user, field) -> set[str] | None:
    rows = visibility.rows_for_field(user, field)
    return None if rows is None else set(rows.values_list("username", flat=True))


def test_a_caseworker_picks_a_case_worker_among_the_staff_of_their_programme(accounts, caseworker, supervisor):
    assert offered(caseworker, CASEWORKER_FIELD) == {"caseworker", "supervisor"}


def test_an_administrator_picks_a_case_worker_among_all_staff_and_never_a_partner(accounts, administrator, partner):
    names = offered(administrator, CASEWORKER_FIELD)
    assert names == accounts
    assert partner.username not in names


@pytest.mark.parametrize("field", ANY_ACCOUNT, ids=lambda f: f"{f.model._meta.label}.{f.name}")
def test_an_administrator_may_name_any_account_where_accounts_are_managed(accounts, administrator, field):
    assert offered(administrator, field) is None  # every account, a partner's and a new one too


@pytest.mark.parametrize("field", ANY_ACCOUNT, ids=lambda f: f"{f.model._meta.label}.{f.name}")
def test_staff_may_name_only_staff_of_their_programme_there(accounts, supervisor, field):
    assert offered(supervisor, field) == {"caseworker", "supervisor"}


def test_a_second_different_rule_for_a_model_fails_loudly_and_the_same_rule_again_is_accepted(monkeypatch):
    monkeypatch.setattr(visibility, "ROW_RULES", dict(visibility.ROW_RULES))
    rule = visibility.ROW_RULES["casework.Case"]
    visibility.register({"casework.Case": rule})
    assert visibility.ROW_RULES["casework.Case"] is rule
    with pytest.raises(ImproperlyConfigured, match="Two visibility rules for casework.Case"):
        visibility.register({"casework.Case": lambda user: Case.objects.none()})
    assert visibility.ROW_RULES["casework.Case"] is rule


def test_a_new_model_gets_its_rule_once_registered(monkeypatch, caseworker, case):
    monkeypatch.setattr(visibility, "ROW_RULES", {})
    visibility.register({"casework.Case": lambda user: Case.objects.filter(pk=case.pk)})
    assert list(visibility.rows_of(caseworker, Case)) == [case]


def test_a_relation_without_a_rule_fails_loudly_and_names_the_field(monkeypatch, caseworker):
    monkeypatch.setattr(visibility, "ROW_RULES", {})
    with pytest.raises(ImproperlyConfigured) as refused:
        visibility.rows_for_field(caseworker, Enrolment._meta.get_field("case"))
    assert str(refused.value) == "No visibility rule for a relation to casework.Case (programmes.Enrolment.case)."


def test_a_model_without_a_rule_fails_loudly_and_names_the_model(monkeypatch, caseworker):
    monkeypatch.setattr(visibility, "ROW_RULES", {})
    with pytest.raises(ImproperlyConfigured) as refused:
        visibility.rows_of(caseworker, Enrolment)
    assert str(refused.value) == "No visibility rule for programmes.Enrolment."


@pytest.mark.parametrize(
    "label", ["casework.RepatriationOperation", "auth.Group", "auth.Permission", "contenttypes.ContentType"]
)
def test_every_staff_member_may_pick_any_row_of_a_public_catalogue(caseworker, label):
    from django.apps import apps

    model = apps.get_model(label)
    assert set(visibility.rows_of(caseworker, model)) == set(model._default_manager.all())


# --- the same rules as the admin offers them ---------------------------------------------------------


@pytest.fixture
def staff_changes(programme, other_programme, accounts):
    """A deactivated caseworker still listed in the programme, and a colleague who works
    in both programmes (named ``aa-both`` so that name order and membership order differ)."""
    retired = f.add_member(programme, f.UserFactory(username="retired"), "caseworker")
    retired.is_active = False
    retired.save()
    both = f.add_member(other_programme, f.UserFactory(username="aa-both"), "caseworker")
    f.add_member(programme, both, "caseworker")
    return both


def sign_in(client, user, group):
    role_groups_sync()
    user.groups.add(Group.objects.get(name=group))
    force_login(client, user)


def caseworker_options(client, url) -> list[str]:
    """The caseworker dropdown of an admin case page, in the order it shows them."""
    response = client.get(url)
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields["caseworker"].choices
    User = get_user_model()
    return [User.objects.get(pk=str(value)).username for value, _label in choices if value]


def test_the_admin_offers_an_administrator_every_active_staff_member_once_in_name_order(
    client, administrator, partner, staff_changes
):
    force_login(client, administrator)
    options = caseworker_options(client, reverse("admin:casework_case_add"))
    assert options == ["aa-both", "caseworker", "caseworker2", "supervisor"]


def test_the_admin_offers_a_supervisor_the_active_staff_of_the_cases_programme_once_in_name_order(
    client, supervisor, case, partner, staff_changes
):
    sign_in(client, supervisor, "Supervisors")
    options = caseworker_options(client, reverse("admin:casework_case_change", args=[case.pk]))
    assert options == ["aa-both", "caseworker", "supervisor"]


def test_the_caseworker_filter_of_the_case_list_names_the_active_staff_of_the_users_programmes(
    client, caseworker, case, partner, staff_changes
):
    sign_in(client, caseworker, "Caseworkers")
    response = client.get(reverse("admin:casework_case_changelist") + "?q=")
    assert response.status_code == 200
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "parameter_name", "") == "caseworker")
    named = [label for _value, label in spec.lookup_choices]
    User = get_user_model()
    assert named == [User.objects.get(username=u).get_full_name() or u for u in ("aa-both", "caseworker", "supervisor")]


# --- rows a user hands a service -----------------------------------------------------------------------


def test_a_caseworker_refers_their_case_without_naming_a_stage_through_the_api(case, caseworker, agency):
    """An empty relation (no stage) is nothing to check, not a row to look up."""
    consent = f.ConsentFactory(person=case.person, agency=agency, purpose="psychosocial", recorded_by=caseworker)
    client = APIClient()
    client.force_authenticate(caseworker)
    body = {"case": case.pk, "agency": agency.pk, "purpose": "psychosocial", "consent": consent.pk}
    response = client.post(reverse("referral-list"), body, format="json")
    assert response.status_code == 201, response.content
    assert Referral.objects.get(pk=response.json()["id"]).stage is None


def test_enrolling_several_cases_refuses_them_all_when_one_is_another_programmes(programme, caseworker, other_case):
    """An intake hands the enrolment service every case of a family at once: one forged
    id of a case the user may not see is answered as missing, and none is enrolled."""
    from core.errors import NotVisible
    from programmes import services

    fresh = f.CaseFactory(caseworker=caseworker, reference="N-FRESH")
    with pytest.raises(NotVisible):
        services.enrolments_create(cases=[fresh, other_case], programme=programme, by=caseworker)
    assert not Enrolment.objects.filter(case=fresh).exists()
    assert list(Enrolment.objects.filter(case=other_case).values_list("programme__code", flat=True)) == [
        other_case.enrolments.get().programme.code
    ]
    # The family's own cases alone are enrolled, each with its plan.
    sister = f.CaseFactory(caseworker=caseworker, reference="N-SISTER")
    enrolled = services.enrolments_create(cases=[fresh, sister], programme=programme, by=caseworker)
    assert [e.case_id for e in enrolled] == [fresh.pk, sister.pk]
    assert all(e.stages.exists() for e in enrolled)
