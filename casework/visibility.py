"""Which rows a user may pick for a foreign key, whatever the door.

Every admin form, inline and raw-id or autocomplete widget (through
``casework.admin_scoping``) and every service that takes a row from a user
asks here. The answer always comes from the selectors, so the rows offered in a
dropdown, accepted from a forged POST and checked by a service are the rows the
same user sees in their lists and through the API.

A foreign key to a model with no rule here fails loudly
(``ImproperlyConfigured``), and the admin registry test walks every form:
a new field cannot be added without deciding who may pick what.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from casework import selectors
from casework.errors import NotVisible
from casework.roles import is_administrator, programme_ids_for


def _case_actable_by(user) -> QuerySet:
    """Cases a user may act on in the admin: administrators all, staff their programmes'
    and their own. A partner agency acts through the API on its referrals only."""
    from casework.models import Case

    if is_administrator(user):
        return Case.objects.all()
    staff = selectors.staff_cases_of(user)
    return staff if staff is not None else Case.objects.none()


def _consent_visible_to(user) -> QuerySet:
    from casework.models import Consent

    if is_administrator(user):
        return Consent.objects.all()
    return Consent.objects.filter(person_id__in=selectors.person_visible_to(user).values("pk"))


def _programme_selector(name: str) -> Callable:
    def rows(user):
        from programmes import selectors as programme_selectors

        return getattr(programme_selectors, name)(user)

    return rows


def rows_for_closure_requests(user) -> QuerySet:
    from casework.models import ClosureRequest

    return ClosureRequest.objects.filter(case_id__in=_case_actable_by(user).values("pk"))


def rows_for_referrals(user) -> QuerySet:
    """Referrals staff work with: those of the cases they act on."""
    from casework.models import Referral

    return Referral.objects.filter(case_id__in=_case_actable_by(user).values("pk"))


rows_for_consents = _consent_visible_to


#: model label -> selector of the rows a user may pick.
ROW_RULES: dict[str, Callable] = {
    "casework.Person": selectors.person_visible_to,
    "casework.Family": selectors.family_visible_to,
    "casework.Case": _case_actable_by,
    "casework.Consent": _consent_visible_to,
    "casework.Referral": rows_for_referrals,
    "casework.ClosureRequest": rows_for_closure_requests,
    "casework.Agency": selectors.agency_visible_to,
    "programmes.Programme": _programme_selector("programme_visible_to"),
    "programmes.StageType": _programme_selector("stage_type_visible_to"),
    "programmes.Enrolment": _programme_selector("enrolment_visible_to"),
    "programmes.StageRecord": _programme_selector("stage_visible_to"),
    "programmes.FollowUp": _programme_selector("follow_up_visible_to"),
}

#: Catalogues every staff member may pick: nothing about a person in them.
PUBLIC_MODELS = {"casework.RepatriationOperation", "auth.Group", "auth.Permission", "contenttypes.ContentType"}

#: Foreign keys to a user that name any account (administrators' pages only): a
#: programme's members and an agency's members are chosen from every account.
ANY_ACCOUNT_FIELDS = {"programmes.ProgrammeMembership.user", "casework.Agency.members", "accounts.UserPreference.user"}


def staff_of(programme_ids) -> QuerySet:
    """Active accounts that work in one of these programmes (caseworkers and supervisors)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, programme_memberships__programme_id__in=list(programme_ids))
        .distinct()
        .order_by("username")
    )


def assignable_staff(user) -> QuerySet:
    """Accounts a user may make responsible for work: the staff of the programmes they
    work in (every programme's staff for administrators). Never a partner's account."""
    if is_administrator(user):
        from programmes.models import Programme

        return staff_of(Programme.objects.values_list("pk", flat=True))
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
