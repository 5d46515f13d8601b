"""Which accounts each door offers for a foreign key to a user, and how the rules of the
access layer (core/visibility.py) are registered: the cases mutation testing found
untested (README, "Mutation testing")."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.models import UserPreference
from casework.models import Agency, Case
from core import visibility
from programmes.models import Enrolment, ProgrammeMembership

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


@pytest.mark.parametrize(
    "label", ["casework.RepatriationOperation", "auth.Group", "auth.Permission", "contenttypes.ContentType"]
)
def test_every_staff_member_may_pick_any_row_of_a_public_catalogue(caseworker, label):
    from django.apps import apps

    model = apps.get_model(label)
    assert set(visibility.rows_of(caseworker, model)) == set(model._default_manager.all())
