"""Who a user is in the system: administrator, supervisor, caseworker or partner.

Roles come from data, not from flags on the user: a supervisor or caseworker
is a member of a programme with that role, a partner is a member of an agency.
Administrators are superusers or members of the "Administrators" group.
Everything that scopes data asks these functions, so removing a membership
ends access on the next request.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

ADMINISTRATORS_GROUP = "Administrators"


def is_administrator(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATORS_GROUP).exists()


def programme_ids_for(user, *, role: str | None = None) -> list[int]:
    """Programmes the user works in (as caseworker or supervisor, or the given role)."""
    if not user.is_authenticated or not user.is_active:
        return []
    memberships = user.programme_memberships.all()
    if role:
        memberships = memberships.filter(role=role)
    return list(memberships.values_list("programme_id", flat=True).distinct())


def agency_ids_for(user) -> list[int]:
    """Active agencies the user acts for."""
    if not user.is_authenticated or not user.is_active:
        return []
    return list(user.agencies.filter(is_active=True).values_list("id", flat=True))


CASEWORKERS_GROUP = "Caseworkers"
SUPERVISORS_GROUP = "Supervisors"

# Model permissions that staff groups get in the admin; which rows they see is
# decided by the selectors, not here. "view/add/change" unless listed otherwise.
_STAFF_MODELS = {
    "casework": {
        "person": "vac",
        "personname": "vacd",
        "personidentifier": "vacd",
        "family": "vac",
        "familymembership": "vacd",
        "case": "vac",
        "casenote": "va",
        "consent": "vac",
        "referral": "vac",
        "agency": "v",
        "repatriationoperation": "v",
        "closurerequest": "vac",
        "casestatuschange": "v",
    },
    "programmes": {
        "programme": "v",
        "stagetype": "v",
        "enrolment": "vac",
        "stagerecord": "vc",
        "accommodationstay": "vacd",
        "psychologicalsession": "vacd",
        "schoolplacement": "vacd",
        "documentrequest": "vacd",
        "housingplacement": "vacd",
        "employmentplacement": "vacd",
        "followup": "vac",
        "stagetransition": "v",
    },
}
_ACTIONS = {"v": "view", "a": "add", "c": "change", "d": "delete"}


def role_groups_sync() -> dict[str, int]:
    """Create or update the staff groups and their admin permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    codenames = {
        (app_label, f"{_ACTIONS[letter]}_{model}")
        for app_label, models in _STAFF_MODELS.items()
        for model, letters in models.items()
        for letter in letters
    }
    staff_permissions = [
        permission
        for permission in Permission.objects.select_related("content_type").filter(
            content_type__app_label__in=_STAFF_MODELS.keys()
        )
        if (permission.content_type.app_label, permission.codename) in codenames
    ]
    counts = {}
    for name in (CASEWORKERS_GROUP, SUPERVISORS_GROUP):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(staff_permissions)
        counts[name] = len(staff_permissions)
    administrators, _ = Group.objects.get_or_create(name=ADMINISTRATORS_GROUP)
    all_permissions = Permission.objects.all()
    administrators.permissions.set(all_permissions)
    counts[ADMINISTRATORS_GROUP] = all_permissions.count()
    return counts
