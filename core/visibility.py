"""Which rows a user may pick for a foreign key, whatever the door.

Every admin form, inline and raw-id or autocomplete widget (through
``backoffice.scoping``), every writable relation of the API (``api.base``) and
every service that takes a row from a user asks here. Each domain app registers
the rule of each of its models at start-up (``casework.visibility``,
``programmes.visibility``); the rules come from the apps' selectors, so the rows
offered in a dropdown, accepted from a forged POST and checked by a service are
the rows the same user sees in their lists and through the API.

A foreign key to a model with no rule fails loudly (``ImproperlyConfigured``),
and the admin registry test walks every form: a new field cannot be added
without deciding who may pick what.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from core.errors import NotVisible
from core.roles import is_administrator, programme_ids_for

#: model label -> selector of the rows a user may pick (filled by the apps' ``ready``).
ROW_RULES: dict[str, Callable] = {}

#: Catalogues every staff member may pick: nothing about a person in them.
PUBLIC_MODELS = {"casework.RepatriationOperation", "auth.Group", "auth.Permission", "contenttypes.ContentType"}

#: Foreign keys to a user that name any account (administrators' pages only): a
#: programme's members and an agency's members are chosen from every account.
ANY_ACCOUNT_FIELDS = {"programmes.ProgrammeMembership.user", "casework.Agency.members", "accounts.UserPreference.user"}


def register(rules: dict[str, Callable]) -> None:
    """An app names the selector of each of its models; a model named twice is a mistake."""
    for label, rule in rules.items():
        if label in ROW_RULES and ROW_RULES[label] is not rule:
            raise ImproperlyConfigured(f"Two visibility rules for {label}.")
        ROW_RULES[label] = rule


def staff_of(programme_ids) -> QuerySet:
    """Active accounts that work in one of these programmes (caseworkers and supervisors)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, programme_memberships__programme_id__in=list(programme_ids))
        .distinct()
        .order_by("username")
    )


def all_staff() -> QuerySet:
    """Active accounts that work in any programme."""
    return (
        get_user_model()
        .objects.filter(is_active=True, programme_memberships__isnull=False)
        .distinct()
        .order_by("username")
    )


def assignable_staff(user) -> QuerySet:
    """Accounts a user may make responsible for work: the staff of the programmes they
    work in (every programme's staff for administrators). Never a partner's account."""
    if is_administrator(user):
        return all_staff()
    return staff_of(programme_ids_for(user))


def rows_for_field(user, field) -> QuerySet | None:
    """The rows ``user`` may pick for the relation ``field``; None when every row may be offered."""
    related = field.related_model
    label = related._meta.label
    if related is get_user_model() or label == settings.AUTH_USER_MODEL:
        owner = f"{field.model._meta.label}.{field.name}"
        if owner in ANY_ACCOUNT_FIELDS and is_administrator(user):
            return None
        return assignable_staff(user)
    if label in PUBLIC_MODELS:
        return None
    rule = ROW_RULES.get(label)
    if rule is None:
        raise ImproperlyConfigured(
            f"No visibility rule for a relation to {label} ({field.model._meta.label}.{field.name})."
        )
    return rule(user)


def rows_of(user, model) -> QuerySet:
    """The rows of ``model`` that ``user`` may pick (every row of a public catalogue)."""
    label = model._meta.label
    if label in PUBLIC_MODELS:
        return model._default_manager.all()
    rule = ROW_RULES.get(label)
    if rule is None:
        raise ImproperlyConfigured(f"No visibility rule for {label}.")
    return rule(user)


def require_visible(user, instance) -> None:
    """Services call this for each row a user hands them: a row the user may not pick
    raises ``NotVisible``, answered exactly as a missing row (404, nothing printed of it).

    ``user=None`` is the system itself (seed data, commands run by an operator)."""
    if user is None or instance is None:
        return
    if not rows_of(user, type(instance)).filter(pk=instance.pk).exists():
        raise NotVisible()


def require_all_visible(user, instances) -> None:
    """``require_visible`` for many rows of one model, in one query."""
    instances = [instance for instance in instances if instance is not None]
    if user is None or not instances:
        return
    pks = {instance.pk for instance in instances}
    if set(rows_of(user, type(instances[0])).filter(pk__in=pks).values_list("pk", flat=True)) != pks:
        raise NotVisible()
