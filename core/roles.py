"""Who a user is in the system: administrator, supervisor, caseworker or partner.

Roles come from data, not from flags on the user: a supervisor or caseworker
is a member of a programme with that role, a partner is a member of an agency.
Administrators are superusers or members of the "Administrators" group.
Everything that scopes data asks these functions, so removing a membership
ends access on the next request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextvars import ContextVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

ADMINISTRATORS_GROUP = "Administrators"

#: The roles a programme membership gives (``programmes.models.ProgrammeMembershipRole``).
CASEWORKER = "caseworker"
SUPERVISOR = "supervisor"
#: A programme's legal officer: works on its cases as staff and, with its supervisors,
#: reads and records their legal proceedings (``justice.selectors``).
LEGAL_OFFICER = "legal_officer"

# Within one request, each answer below is looked up once: a page asks the same
# questions of the same user from the role check, the selectors, the filters and
# the serializers. Outside a request (services called by commands, tasks and
# tests) nothing is cached, so a changed membership counts at once.
_request_answers: ContextVar[dict | None] = ContextVar("role_answers", default=None)


@contextlib.contextmanager
def roles_resolved_once():
    """Within this block, each role question about a user is asked of the database once."""
    token = _request_answers.set({})
    try:
        yield
    finally:
        _request_answers.reset(token)


class RolesOncePerRequestMiddleware:
    """Every request answers each role question once, and forgets the answers after it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with roles_resolved_once():
            return self.get_response(request)


def _answer(user, question: tuple, compute: Callable):
    answers = _request_answers.get()
    if answers is None:
        return compute()
    key = (user.pk, *question)
    if key not in answers:
        answers[key] = compute()
    return answers[key]


def is_administrator(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return _answer(user, ("administrator",), lambda: user.groups.filter(name=ADMINISTRATORS_GROUP).exists())


def programme_ids_for(user, *, role: str | None = None) -> list[int]:
    """Programmes the user works in (as caseworker or supervisor, or the given role)."""
    if not user.is_authenticated or not user.is_active:
        return []

    def compute():
        memberships = user.programme_memberships.all()
        if role:
            memberships = memberships.filter(role=role)
        return tuple(memberships.values_list("programme_id", flat=True).distinct())

    return list(_answer(user, ("programmes", role or ""), compute))


def agency_ids_for(user) -> list[int]:
    """Active agencies the user acts for."""
    if not user.is_authenticated or not user.is_active:
        return []
    return list(
        _answer(user, ("agencies",), lambda: tuple(user.agencies.filter(is_active=True).values_list("id", flat=True)))
    )


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
    # Which rows (none for a caseworker) the justice track's own rule decides.
    "justice": {
        "legalproceeding": "vac",
        "courthearing": "vac",
    },
}
# Supervisors also read the stage reports their programmes receive (which, the admin decides).
_SUPERVISOR_MODELS = {"programmes": {"stagereport": "v"}}
_ACTIONS = {"v": "view", "a": "add", "c": "change", "d": "delete"}


def _codenames(models_by_app: dict) -> set[tuple[str, str]]:
    return {
        (app_label, f"{_ACTIONS[letter]}_{model}")
        for app_label, models in models_by_app.items()
        for model, letters in models.items()
        for letter in letters
    }


def role_groups_sync() -> dict[str, int]:
    """Create or update the staff groups and their admin permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    codenames = _codenames(_STAFF_MODELS)
    supervisor_codenames = codenames | _codenames(_SUPERVISOR_MODELS)
    permissions = list(
        Permission.objects.select_related("content_type").filter(
            content_type__app_label__in=_STAFF_MODELS.keys() | _SUPERVISOR_MODELS.keys()
        )
    )
    counts = {}
    for name, granted in ((CASEWORKERS_GROUP, codenames), (SUPERVISORS_GROUP, supervisor_codenames)):
        group, _ = Group.objects.get_or_create(name=name)
        chosen = [p for p in permissions if (p.content_type.app_label, p.codename) in granted]
        group.permissions.set(chosen)
        counts[name] = len(chosen)
    administrators, _ = Group.objects.get_or_create(name=ADMINISTRATORS_GROUP)
    all_permissions = Permission.objects.all()
    administrators.permissions.set(all_permissions)
    counts[ADMINISTRATORS_GROUP] = all_permissions.count()
    return counts
