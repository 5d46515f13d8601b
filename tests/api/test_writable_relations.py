"""Generated from the API router: every foreign key a role may write through any route
accepts only the rows ``casework.visibility`` lets that role pick, as the admin's forms do."""

from __future__ import annotations

import pytest
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from core.visibility import rows_for_field
from api.urls import router
from api.base import ApiRole, RoleAwareSerializer

pytestmark = pytest.mark.django_db


def _writable_relations(serializer):
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        related = field.child_relation if isinstance(field, serializers.ManyRelatedField) else field
        if isinstance(related, serializers.RelatedField) and related.queryset is not None:
            yield name, related


@pytest.mark.parametrize("actor", ["administrator", "supervisor", "caseworker", "partner"])
def test_every_writable_foreign_key_is_scoped_by_the_visibility_rule(world, actor):
    user = world.users[actor]
    request = APIRequestFactory().post("/api/v1/")
    request.user = user
    request._api_role = {
        "administrator": ApiRole.ADMINISTRATOR,
        "supervisor": ApiRole.SUPERVISOR,
        "caseworker": ApiRole.CASEWORKER,
        "partner": ApiRole.PARTNER,
    }[actor]
    seen = 0
    for _prefix, viewset, _basename in router.registry:
        serializer_class = getattr(viewset, "serializer_class", None)
        if serializer_class is None or not issubclass(serializer_class, RoleAwareSerializer):
            continue
        serializer = serializer_class(context={"request": request})
        for name, related in _writable_relations(serializer):
            model_field = serializer_class.Meta.model._meta.get_field(related.source or name)
            allowed = rows_for_field(user, model_field)
            if allowed is None:
                continue
            offered = set(related.queryset.values_list("pk", flat=True))
            assert offered <= set(allowed.values_list("pk", flat=True)), f"{serializer_class.__name__}.{name}"
            seen += 1
    # Administrators write a stage type's programme; every role writes a stage detail's stage.
    assert seen > 0


def test_a_scoped_serializer_refuses_a_row_the_caller_may_not_pick(world, other_programme):
    from api.programmes.serializers import StageTypeSerializer

    class ForcedWriter(StageTypeSerializer):
        class Meta(StageTypeSerializer.Meta):
            access = {role: StageTypeSerializer.Meta.access[ApiRole.ADMINISTRATOR] for role in ApiRole}

    request = APIRequestFactory().post("/api/v1/")
    request.user = world.users["supervisor"]
    request._api_role = ApiRole.SUPERVISOR
    serializer = ForcedWriter(context={"request": request})
    programme_field = serializer.fields["programme"]
    assert world.programme in programme_field.queryset
    assert other_programme not in programme_field.queryset
