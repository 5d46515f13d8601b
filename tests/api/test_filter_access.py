"""A role filters and orders only by the fields it may read.

The viewsets come from the router, so a new filter or ordering key without a
declaration of what it reveals fails ``test_every_filter_and_ordering_key_declares_what_it_reveals``,
and every declared one is tried for every role against the serializers' ``Meta.access``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import django_filters
import pytest
import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django_filters import MultipleChoiceFilter
from knox.models import AuthToken
from rest_framework.test import APIClient

from casework.models import Case, RiskLevel
from api.urls import router
from api.base import ALL, ApiRole, RoleAwareSerializer
from api.policies import FieldOf, RoleAwareFilterSet, StableOrderingFilter, revealed_fields
from tests import factories as f

pytestmark = pytest.mark.django_db

REFUSED = {"detail": "Invalid input.", "code": "invalid"}
REFUSAL_MESSAGE = "You may not filter by this field."

# One actor of the world per API role.
ACTORS = {
    "administrator": ApiRole.ADMINISTRATOR,
    "supervisor": ApiRole.SUPERVISOR,
    "caseworker": ApiRole.CASEWORKER,
    "partner": ApiRole.PARTNER,
}

SCHEMA_FILE = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
# Create-only endpoints answer no rows, so there is nothing to filter or order:
# ``test_create_only_endpoints_read_nothing`` holds them to that.
CREATE_ONLY = {"arrival"}
VIEWSETS = {basename: viewset for _, viewset, basename in router.registry if basename not in CREATE_ONLY}


def references(viewset, declaration) -> list[tuple[type, str]]:
    """(serializer, field) for each field a declaration names."""
    return [
        (ref.serializer, ref.field) if isinstance(ref, FieldOf) else (viewset.serializer_class, ref)
        for ref in revealed_fields(declaration)
    ]


def may_read(role: ApiRole, serializer, field: str) -> bool:
    read = serializer.access_for(role).read
    return read == ALL or field in read


def filter_declarations(viewset) -> dict:
    filterset = viewset.filterset_class
    return {name: filterset.Meta.reveals[name] for name in filterset.base_filters}


def ordering_declarations(viewset) -> dict:
    return {key: StableOrderingFilter.reveals(viewset, key) for key in viewset.ordering_fields or ()}


def test_every_filter_and_ordering_key_declares_what_it_reveals():
    problems = []
    for basename, viewset in VIEWSETS.items():
        if not issubclass(viewset.serializer_class, RoleAwareSerializer):
            problems.append(f"{basename}: its serializer has no Meta.access")
        filterset = getattr(viewset, "filterset_class", None)
        if filterset is None or not issubclass(filterset, RoleAwareFilterSet):
            problems.append(f"{basename}: no RoleAwareFilterSet (it checks filters and ordering keys)")
            continue
        missing = set(filterset.base_filters) - set(filterset.Meta.reveals)
        problems += [f"{basename}: filter {name} does not declare what it reveals" for name in sorted(missing)]
        declared = {
            **{f"filter {k}": v for k, v in filter_declarations(viewset).items()},
            **{f"ordering {k}": v for k, v in ordering_declarations(viewset).items()},
        }
        for what, declaration in declared.items():
            for serializer, field in references(viewset, declaration):
                if field not in serializer().fields:
                    problems.append(f"{basename}: {what} reveals {serializer.__name__}.{field}, which does not exist")
    assert not problems, "\n".join(problems)


def test_create_only_endpoints_read_nothing():
    registered = {basename: viewset for _, viewset, basename in router.registry}
    assert CREATE_ONLY <= set(registered)
    for basename in CREATE_ONLY:
        viewset = registered[basename]
        routes = {
            (pattern.name, method)
            for pattern in router.urls
            if pattern.name.startswith(basename + "-")
            for method in getattr(pattern.callback, "actions", {})
        }
        assert routes == {(f"{basename}-list", "post")}, routes
        assert not viewset.filter_backends and not getattr(viewset, "filterset_class", None)
        assert not getattr(viewset, "ordering_fields", None)


def sample_value(query_filter) -> str:
    """A value the filter accepts, so that an answer of 400 can only be the refusal."""
    candidates = [str(choice[0]) for choice in query_filter.extra.get("choices") or ()]
    candidates += ["1", "true", "2026-01-02", "2026-01-02T00:00:00Z", "N"]
    for value in candidates:
        try:
            query_filter.field.clean([value] if isinstance(query_filter, MultipleChoiceFilter) else value)
        except Exception:
            continue
        return value
    raise AssertionError(f"no sample value for {query_filter!r}")


def routes_of(basename: str) -> list[str]:
    viewset = VIEWSETS[basename]
    routes = [f"{basename}-list"]
    if hasattr(viewset, "changes"):
        routes.append(f"{basename}-changes")
    return routes


@pytest.mark.parametrize("basename", sorted(VIEWSETS))
def test_each_role_filters_and_orders_by_exactly_what_it_reads(world, basename):
    viewset = VIEWSETS[basename]
    filterset = viewset.filterset_class
    failures = []
    for actor, role in ACTORS.items():
        client = world.client(actor)
        for name, declaration in filter_declarations(viewset).items():
            readable = all(may_read(role, s, f) for s, f in references(viewset, declaration))
            value = sample_value(filterset.base_filters[name])
            for route in routes_of(basename):
                response = client.get(reverse(route), {name: value})
                failures += check(response, readable, name, f"{actor} {route}?{name}={value}")
        for key, declaration in ordering_declarations(viewset).items():
            readable = all(may_read(role, s, f) for s, f in references(viewset, declaration))
            for term in (key, "-" + key):
                response = client.get(reverse(f"{basename}-list"), {"ordering": term})
                failures += check(response, readable, "ordering", f"{actor} {basename}-list?ordering={term}")
    assert not failures, "\n".join(failures)


def check(response, readable: bool, parameter: str, label: str) -> list[str]:
    if readable:
        return [] if response.status_code == 200 else [f"{label}: {response.status_code}, expected 200"]
    expected = {**REFUSED, "errors": {parameter: [REFUSAL_MESSAGE]}}
    if response.status_code != 400 or response.json() != expected:
        return [f"{label}: {response.status_code} {response.content[:200]!r}, expected the refusal"]
    return []


# --- The findings: a partner learned redacted fields through filters ------------------------


def assert_refused(response, parameter: str, value: str) -> None:
    assert response.status_code == 400
    assert response.json() == {**REFUSED, "errors": {parameter: [REFUSAL_MESSAGE]}}
    assert value not in response.content.decode().replace(REFUSAL_MESSAGE, "")


def assert_no_oracle(world, route: str, parameter: str, true_value, other_value) -> None:
    """The partner's answer is the same refusal whether or not the value is the row's."""
    client = world.client("partner")
    answers = []
    for value in (str(true_value), str(other_value)):
        response = client.get(reverse(route), {parameter: value})
        assert_refused(response, parameter, value)
        answers.append(response.content)
    assert answers[0] == answers[1]


def test_partner_cannot_learn_risk_level_through_filter(world):
    world.case.risk_level = RiskLevel.HIGH
    world.case.save()
    other = next(level for level in RiskLevel.values if level != RiskLevel.HIGH)
    for route in ("case-list", "case-changes"):
        assert_no_oracle(world, route, "risk_level", RiskLevel.HIGH, other)
    # Staff still filter by it.
    response = world.client("caseworker").get(reverse("case-list"), {"risk_level": RiskLevel.HIGH})
    assert [row["id"] for row in response.json()["results"]] == [world.case.pk]


def test_partner_cannot_learn_family_through_filter(world):
    assert_no_oracle(world, "case-list", "family", world.family.pk, world.family.pk + 1000)


def test_partner_cannot_learn_caseworker_through_filter(world):
    caseworker = world.users["caseworker"]
    assert_no_oracle(world, "case-list", "caseworker", caseworker.pk, caseworker.pk + 1000)


def test_partner_cannot_learn_operation_through_filter(world):
    world.case.operation = f.OperationFactory()
    world.case.save()
    true_value = world.case.operation_id
    for route in ("case-list", "person-list", "stage-list"):
        assert_no_oracle(world, route, "operation", true_value, true_value + 1000)


def test_partner_cannot_learn_stage_responsible_through_filter(world):
    world.stage.responsible_user = world.users["caseworker"]
    world.stage.save()
    user_id = world.users["caseworker"].pk
    for route in ("stage-list", "stage-changes"):
        assert_no_oracle(world, route, "caseworker", user_id, user_id + 1000)


def test_partner_cannot_learn_follow_up_assignee_through_filter(world):
    user_id = world.follow_up.assignee_id
    for route in ("follow-up-list", "follow-up-changes"):
        assert_no_oracle(world, route, "assignee", user_id, user_id + 1000)


def test_partner_cannot_learn_opening_date_through_ordering(world):
    response = world.client("partner").get(reverse("case-list"), {"ordering": "-opened_on"})
    assert_refused(response, "ordering", "opened_on")
    assert world.client("partner").get(reverse("case-list"), {"ordering": "-arrival_date"}).status_code == 200


def test_the_refusal_comes_before_the_value_is_read(world):
    # An invalid value on a refused filter gets the same answer: nothing about the
    # value, nor the field's choices, comes back.
    response = world.client("partner").get(reverse("case-list"), {"risk_level": "Secretvalue"})
    assert_refused(response, "risk_level", "Secretvalue")
    assert "high" not in response.content.decode()


def test_a_filter_without_a_declaration_cannot_be_defined():
    with pytest.raises(ImproperlyConfigured, match="undeclared filters \\['risk_level'\\]"):

        class UndeclaredFilterSet(RoleAwareFilterSet):
            risk_level = django_filters.CharFilter()

            class Meta:
                model = Case
                fields = ["status", "risk_level"]
                reveals = {"status": "status"}


def test_the_schema_says_which_roles_may_use_each_filter():
    from api.schema import roles_that_may_read

    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/cases/"]["get"]["parameters"]}
    staff = ["administrator", "supervisor", "caseworker"]
    for name in ("risk_level", "family", "caseworker", "operation"):
        assert parameters[name]["x-roles"] == staff
        assert "Only for: administrator, supervisor, caseworker" in parameters[name]["description"]
    assert "x-roles" not in parameters["status"]
    assert parameters["ordering"]["x-roles"] == {"opened_on": staff}
    follow_ups = {p["name"]: p for p in schema["paths"]["/api/v1/follow-ups/"]["get"]["parameters"]}
    assert follow_ups["assignee"]["x-roles"] == staff
    # The schema's table and the runtime check read the same declarations.
    viewset = VIEWSETS["stage"]
    assert roles_that_may_read(viewset(), viewset.filterset_class.Meta.reveals["caseworker"]) == staff


def test_partner_cannot_learn_other_agencies_referrals_through_filter(world):
    # The case is also referred to another agency, whose referral the partner cannot see.
    other_agency = f.AgencyFactory(code="another-agency")
    f.ReferralFactory(case=world.case, agency=other_agency, referred_by=world.users["caseworker"])
    client = world.client("partner")
    assert client.get(reverse("case-list"), {"agency": other_agency.pk}).json()["count"] == 0
    assert client.get(reverse("case-list"), {"agency": world.agency.pk}).json()["count"] == 1
    # Staff see both referrals, so both filters find the case.
    staff = world.client("caseworker")
    assert staff.get(reverse("case-list"), {"agency": other_agency.pk}).json()["count"] == 1


def test_school_cannot_learn_hidden_stages_are_late_through_filter(programme, caseworker):
    school = f.AgencyFactory(code="school-9", kind="school")
    teacher = f.UserFactory(username="teacher", is_staff=False)
    school.members.add(teacher)
    case = f.CaseFactory(person=f.PersonFactory(date_of_birth=f.born_years_ago(9)), caseworker=caseworker)
    f.enrol(case, programme, by=caseworker)
    f.ReferralFactory(case=case, agency=school, purpose="schooling", referred_by=caseworker, status="accepted")
    stages = case.enrolments.get().stages
    stages.exclude(stage_type__kind="schooling").update(
        planned_start=datetime.date(2000, 1, 1), due_date=datetime.date(2000, 2, 1)
    )
    stages.filter(stage_type__kind="schooling").update(due_date=datetime.date(2999, 1, 1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(teacher)[1]}")
    assert client.get(reverse("case-list"), {"overdue": "true"}).json()["count"] == 0
    assert client.get(reverse("case-list"), {"overdue": "false"}).json()["count"] == 1
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(caseworker)[1]}")
    assert staff.get(reverse("case-list"), {"overdue": "true"}).json()["count"] == 1
