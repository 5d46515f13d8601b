"""Writes that matter for casework: a partner agency's answers to a referral, the
withdrawal of a consent, and the archiving of a case.

Keyword-only, one transaction each, the row locked (``SELECT ... FOR UPDATE``)
so that two answers to the same referral cannot both succeed. A refused
transition raises ``TransitionNotAllowed`` (HTTP 409).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import acting_as
from casework.errors import TransitionNotAllowed
from casework.roles import is_administrator
from casework.models import Case, Consent, Referral, ReferralStatus

R = ReferralStatus


@dataclass(frozen=True)
class ReferralTransition:
    sources: tuple[str, ...]
    target: str


# The allowed answers to a referral, in one table.
REFERRAL_TRANSITIONS = {
    "accept": ReferralTransition((R.PENDING,), R.ACCEPTED),
    "decline": ReferralTransition((R.PENDING,), R.DECLINED),
    "complete": ReferralTransition((R.ACCEPTED,), R.COMPLETED),
}


def _referral_move(*, referral_id: int, action: str, on: datetime.date | None) -> Referral:
    transition = REFERRAL_TRANSITIONS[action]
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if referral.status not in transition.sources:
            raise TransitionNotAllowed(
                _("This referral is %(status)s; that answer is not allowed now.")
                % {"status": referral.get_status_display().lower()}
            )
        referral.status = transition.target
        if referral.responded_on is None or action != "complete":
            referral.responded_on = on or timezone.localdate()
        referral.save(update_fields=["status", "responded_on", "updated_at"])
    return referral


def referral_accept(*, referral_id: int, by, on: datetime.date | None = None) -> Referral:
    """The agency takes the referral on."""
    return _referral_move(referral_id=referral_id, action="accept", on=on)


def referral_decline(*, referral_id: int, by, on: datetime.date | None = None) -> Referral:
    """The agency will not take the referral; it loses access to the case."""
    return _referral_move(referral_id=referral_id, action="decline", on=on)


def referral_complete(*, referral_id: int, by, on: datetime.date | None = None) -> Referral:
    """The agency has done what it was asked; it loses access to the case."""
    return _referral_move(referral_id=referral_id, action="complete", on=on)


def consent_withdraw(*, consent_id: int, by, on: datetime.date | None = None) -> Consent:
    """The person (or their guardian) takes their consent back.

    From the withdrawal day on, the referrals that rest on it no longer give the
    agency access: the partner scoping reads the consent on every request, so the
    agency's next request already finds nothing. The change log records who
    withdrew it and when.
    """
    day = on or timezone.localdate()
    with transaction.atomic():
        consent = Consent.objects.select_for_update().get(pk=consent_id)
        if consent.withdrawn_on is not None and consent.withdrawn_on <= day:
            raise TransitionNotAllowed(_("This consent has already been withdrawn."))
        consent.withdrawn_on = max(day, consent.given_on)
        consent.full_clean()
        with acting_as(by):
            consent.save(update_fields=["withdrawn_on"])
    return consent


def case_archive(*, case_id: int, by) -> Case:
    """An administrator's deletion of a case: hidden from everyone else, kept and audited.

    Nothing about people is ever hard-deleted through the admin or the API; an
    archived case stays for the audit trail and is erased by retention like any other.
    """
    if not is_administrator(by):
        raise PermissionError("Only administrators archive cases.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.archived_at is not None:
            raise TransitionNotAllowed(_("This case is already archived."))
        case.archived_at = timezone.now()
        case.archived_by = by
        with acting_as(by):
            case.save(update_fields=["archived_at", "archived_by", "updated_at"])
    return case
