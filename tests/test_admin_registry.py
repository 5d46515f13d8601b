"""Generated from the admin registry: every form, inline and action of every admin page a
staff member can open is scoped. A new admin, inline, foreign key or action without a
rule fails here, as a new API route fails the API's access matrix."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.utils import timezone

from backoffice.scoping import ScopedModelAdmin
from casework.models import ClosureRequest, Family, FamilyMembership
from core.roles import role_groups_sync
from core.visibility import PUBLIC_MODELS
from justice.models import LegalProceeding
from programmes.models import FollowUp, ProgrammeMembershipRole, StageRecord
from tests import factories as f

pytestmark = pytest.mark.django_db

OUR_APPS = {"casework", "programmes", "justice", "lifecycle", "audit", "notifications", "accounts"}


@pytest.fixture
def north(case, caseworker, supervisor, partner, administrator, agency):
    """One row of every kind in the first programme, none of which the other programme's staff may pick."""
    role_groups_sync()
    family = Family.objects.create(reference="FAM-N", label="North (test)")
    relative = f.PersonFactory(given_name="Relative")
    FamilyMembership.objects.create(family=family, person=case.person, relationship="head")
    FamilyMembership.objects.create(family=family, person=relative, relationship="child")
    case.family = family
    case.save()
    referral = f.ReferralFactory(case=case, agency=agency, referred_by=caseworker)
    stage = StageRecord.objects.filter(enrolment__case=case).first()
    follow_up = FollowUp.objects.create(stage=stage, kind="visit", due_date=timezone.localdate(), assignee=caseworker)
    closure = ClosureRequest.objects.create(case=case, requested_by=caseworker, reason="Test.")
    enrolment = case.enrolments.get()
    proceeding = LegalProceeding.objects.create(case=case, opened_on=timezone.localdate())
    return {
        "casework.Person": [case.person.pk, relative.pk],
        "casework.Family": [family.pk],
        "casework.Case": [case.pk],
        "casework.Consent": [referral.consent_id],
        "casework.Referral": [referral.pk],
        "casework.ClosureRequest": [closure.pk],
        "programmes.Programme": [enrolment.programme_id],
        "programmes.StageType": list(enrolment.programme.stage_types.values_list("pk", flat=True)),
        "programmes.Enrolment": [enrolment.pk],
        "programmes.StageRecord": [stage.pk],
        "programmes.FollowUp": [follow_up.pk],
        "justice.LegalProceeding": [proceeding.pk],
        "auth.User": [caseworker.pk, supervisor.pk, partner.pk, administrator.pk],
        # Staff refer to every agency: agencies are not the first programme's.
        "casework.Agency": [],
    }


@pytest.fixture(params=["caseworker", "supervisor"])
def outsider(request, other_programme, other_case, other_caseworker):
    """Staff of the other programme, with the permissions their group gives them."""
    if request.param == "caseworker":
        user = other_caseworker
        user.groups.add(Group.objects.get(name="Caseworkers"))
    else:
        user = f.add_member(other_programme, f.UserFactory(username="supervisor2"), ProgrammeMembershipRole.SUPERVISOR)
        user.groups.add(Group.objects.get(name="Supervisors"))
    return user


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _staff_pages(request):
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_view_or_change_permission(request) or model_admin.has_add_permission(request):
            yield model, model_admin


def _forms_of(model_admin, request):
    """Every form class the page builds: its own, and each inline's, for a new row and for a row it shows."""
    objects = [None, *model_admin.get_queryset(request)[:1]]
    for obj in objects:
        if obj is None and not model_admin.has_add_permission(request):
            continue
        yield f"{type(model_admin).__name__} form", model_admin.get_form(request, obj)
        for formset, inline in model_admin.get_formsets_with_inlines(request, obj):
            yield f"{type(inline).__name__}", formset.form


def _choice_fields(form_class):
    for name, field in form_class.base_fields.items():
        if isinstance(field, (forms.ModelChoiceField, forms.ModelMultipleChoiceField)):
            yield name, field


def test_every_staff_page_builds_on_the_scoped_admin(north, outsider):
    request = _request(outsider)
    pages = list(_staff_pages(request))
    assert pages, "the outsider should reach some admin pages"
    for model, model_admin in pages:
        assert isinstance(model_admin, ScopedModelAdmin), (
            f"{model._meta.label}: its admin must build on ScopedModelAdmin"
        )


def test_every_foreign_key_of_every_form_and_inline_offers_only_visible_rows(north, outsider):
    request = _request(outsider)
    checked = 0
    for model, model_admin in _staff_pages(request):
        for where, form_class in _forms_of(model_admin, request):
            for name, field in _choice_fields(form_class):
                label = field.queryset.model._meta.label
                if label in PUBLIC_MODELS:
                    continue
                assert label in north, f"{where}.{name}: a relation to {label} has no row in this test's world"
                leaked = field.queryset.filter(pk__in=north[label])
                assert not leaked.exists(), f"{where}.{name} offers another programme's {label}"
                checked += 1
    assert checked >= 15


def test_every_action_declares_its_permission(north, outsider):
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS:
            continue
        for func, name, _description in model_admin._get_base_actions():
            assert getattr(func, "allowed_permissions", None), (
                f"{model._meta.label} action {name} declares no permission"
            )


def test_actions_offered_to_an_outsider_are_only_those_they_hold(north, outsider):
    request = _request(outsider)
    for model, model_admin in _staff_pages(request):
        for func, name, _description in model_admin.get_actions(request).values():
            checks = [getattr(model_admin, f"has_{permission}_permission") for permission in func.allowed_permissions]
            assert any(check(request) for check in checks), f"{model._meta.label}: {name}"
