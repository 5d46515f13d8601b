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

# Within one request, the caller's roles are read once: a page asks the same
# questions of the same user from the role check, the selectors, the filters, the
# serializers and the admin. ``roles_of`` builds one ``Roles`` per user and request
# (each of its three answers read from the database at most once, when first
# asked). Outside a request (services called by commands, tasks and tests) nothing
# is cached, so a changed membership counts at once.
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


class Roles:
    """What one user is: administrator or not, the programmes they work in (and those
    they supervise), the active agencies they act for. Each answer is one query,
    made when first asked; a signed-out or inactive user has no role at all."""

    __slots__ = ("_user", "_administrator", "_memberships", "_agencies", "_derived")

    def __init__(self, user):
        self._user = user
        self._administrator = self._memberships = self._agencies = None
        self._derived = {}

    def derived(self, name: str, compute: Callable):
        """An answer the selectors derive from these roles (``compute()``), kept as long
        as this object: for one request, or for one question outside a request."""
        if name not in self._derived:
            self._derived[name] = compute()
        return self._derived[name]

    @property
    def _active(self) -> bool:
        return bool(self._user.is_authenticated and self._user.is_active)

    @property
    def is_administrator(self) -> bool:
        if not self._active:
            return False
        if self._user.is_superuser:
            return True
        if self._administrator is None:
            self._administrator = self._user.groups.filter(name=ADMINISTRATORS_GROUP).exists()
        return self._administrator

    def _membership_rows(self) -> tuple[tuple[int, str], ...]:
        if not self._active:
            return ()
        if self._memberships is None:
            self._memberships = tuple(
                self._user.programme_memberships.order_by("programme_id", "role")
                .values_list("programme_id", "role")
                .distinct()
            )
        return self._memberships

    def programme_ids(self, role: str | None = None) -> list[int]:
        """Programmes the user works in (as caseworker or supervisor, or the given role)."""
        ids = []
        for programme_id, held in self._membership_rows():
            if (role is None or held == role) and programme_id not in ids:
                ids.append(programme_id)
        return ids

    @property
    def agency_ids(self) -> list[int]:
        """Active agencies the user acts for."""
        if not self._active:
            return []
        if self._agencies is None:
            self._agencies = tuple(self._user.agencies.filter(is_active=True).values_list("id", flat=True))
        return list(self._agencies)


def roles_of(user) -> Roles:
    """The user's roles: within a request, the same object for every question."""
    answers = _request_answers.get()
    if answers is None or user.pk is None:
        return Roles(user)
    key = (user.pk, user.is_active, user.is_superuser)
    if key not in answers:
        answers[key] = Roles(user)
    return answers[key]


def roles_forget_derived() -> None:
    """Forget what the selectors derived within this request (a case or an enrolment
    was written: the next question reads the rows again). The roles themselves stay."""
    for roles in (_request_answers.get() or {}).values():
        roles._derived.clear()


def is_administrator(user: AbstractBaseUser | AnonymousUser) -> bool:
    return roles_of(user).is_administrator


def programme_ids_for(user, *, role: str | None = None) -> list[int]:
    """Programmes the user works in (as caseworker or supervisor, or the given role)."""
    return roles_of(user).programme_ids(role)


def agency_ids_for(user) -> list[int]:
    """Active agencies the user acts for."""
    return roles_of(user).agency_ids


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
        "receivingrelative": "vac",
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
        "relativecontact": "vac",
        "followup": "vac",
        "stagetransition": "v",
    },
    # Asked for on the case page, decided on its own page (``lifecycle.transfer``).
    "lifecycle": {"transferrequest": "vc"},
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
