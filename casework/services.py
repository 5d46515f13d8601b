"""Writes that matter for casework: a partner agency's answers to a referral, the
withdrawal of a consent, and the archiving of a case.

Keyword-only, one transaction each, the row locked (``SELECT ... FOR UPDATE``)
so that two answers to the same referral cannot both succeed. A refused
transition raises ``TransitionNotAllowed`` (HTTP 409).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import acting_as
from core.errors import NotVisible, TransitionNotAllowed
from core.roles import agency_ids_for, is_administrator
from casework import referral_emails
from casework.models import Case, CaseStatus, Consent, ReceivingRelative, Referral, ReferralStatus
from core.visibility import require_visible

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


#: The longest reason an answer may give (the admin's form and the API's body say the same).
RESPONSE_REASON_MAX_LENGTH = 2000


def _referral_move(*, referral_id: int, action: str, by, on: datetime.date | None, reason: str = "") -> Referral:
    """Move a referral by one answer, recording who gave it, on which day and why.

    One door for every caller: the agency's members through the API, staff in the
    admin (an answer the agency gave them by letter or telephone), the demo's seed
    (``by=None``, the system). A user who is neither a member of the referral's agency
    nor staff of its case is answered as for a missing referral (``NotVisible``).
    """
    transition = REFERRAL_TRANSITIONS[action]
    reason = (reason or "").strip()
    if len(reason) > RESPONSE_REASON_MAX_LENGTH:
        raise ValidationError({"reason": _("At most %(limit)d characters.") % {"limit": RESPONSE_REASON_MAX_LENGTH}})
    if action == "decline" and not reason:
        raise ValidationError({"reason": _("Say why the agency declines: the caseworker reads it.")})
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if by is not None and referral.agency_id not in agency_ids_for(by):
            require_visible(by, referral)
        if referral.status not in transition.sources:
            raise TransitionNotAllowed(
                _("This referral is %(status)s; that answer is not allowed now.")
                % {"status": referral.get_status_display().lower()}
            )
        referral.status = transition.target
        fields = ["status", "responded_on", "updated_at"]
        if referral.responded_on is None or action != "complete":
            referral.responded_on = on or timezone.localdate()
        if action != "complete":
            # The answer to the referral: who gave it and why (completion is not an answer).
            referral.responded_by = by
            referral.response_reason = reason
            fields += ["responded_by", "response_reason"]
        with acting_as(by):
            referral.save(update_fields=fields)
    return referral


def referral_accept(*, referral_id: int, by, reason: str = "", on: datetime.date | None = None) -> Referral:
    """The agency takes the referral on (a reason is optional): it sees the case from now on."""
    return _referral_move(referral_id=referral_id, action="accept", by=by, on=on, reason=reason)


def referral_decline(*, referral_id: int, by, reason: str, on: datetime.date | None = None) -> Referral:
    """The agency will not take the referral, and says why; it sees nothing of the case."""
    return _referral_move(referral_id=referral_id, action="decline", by=by, on=on, reason=reason)


def referral_complete(*, referral_id: int, by, on: datetime.date | None = None) -> Referral:
    """The agency has done what it was asked; it loses access to the case."""
    return _referral_move(referral_id=referral_id, action="complete", by=by, on=on)


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
        referral_emails.referrals_ended_by_withdrawal(consent)
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


# --- Writes that take rows from the acting user ------------------------------------
#
# Every row a user hands in (a person, a case, a consent, a stage) is checked against
# what that user may pick (``casework.visibility``): a forged id fails here even when
# a door forgot to scope its form. ``by=None`` is the system (seed data, operators'
# commands).


def consent_record(*, consent: Consent, by) -> Consent:
    """Record a consent given for a person the user may see."""
    require_visible(by, consent.person)
    require_visible(by, consent.agency)
    if by is not None and not consent.recorded_by_id:
        consent.recorded_by = by
    consent.full_clean()
    with transaction.atomic(), acting_as(by):
        consent.save()
    return consent


def referral_create(*, referral: Referral, by) -> Referral:
    """Refer a case the user works on (or one of its stages) to an agency, on a consent
    of the case's person. The referring user is recorded. A closed case is not referred (409)."""
    require_visible(by, referral.case)
    require_visible(by, referral.consent)
    require_visible(by, referral.stage)
    require_visible(by, referral.agency)
    if referral.stage_id is not None and referral.stage.enrolment.case_id != referral.case_id:
        raise ValidationError({"stage": _("The stage must belong to this case.")})
    if by is not None:
        referral.referred_by = by
    referral.full_clean()
    with transaction.atomic(), acting_as(by):
        # Locked as closure locks it: a closed case shares nothing (closure ended its referrals).
        if Case.objects.select_for_update().filter(pk=referral.case_id, status=CaseStatus.CLOSED).exists():
            raise TransitionNotAllowed(_("A closed case is not referred; reopen it first."))
        referral.save()
        referral_emails.agency_members_notify(referral, referral_emails.REFERRAL_NEW)
    return referral


def case_note_add(*, note, by):
    """Add a note to a case the user acts on as staff; notes are added, never rewritten.
    The author is the user."""
    require_visible(by, note.case)
    if by is not None:
        note.author = by
    note.full_clean()
    with transaction.atomic(), acting_as(by):
        note.save()
    return note


def family_membership_save(*, membership, by):
    """Add a person to a family (or change their place in it): both must be rows the user may see."""
    require_visible(by, membership.family)
    require_visible(by, membership.person)
    membership.full_clean()
    with transaction.atomic(), acting_as(by):
        membership.save()
    return membership


def receiving_relative_save(*, relative, by):
    """Record a relative receiving a family, or change one: the family must be one the
    user may see (as staff), and an existing relative one the user may see. Name, phone and
    address are stored encrypted; the audit trail withholds them."""
    require_visible(by, relative.family)
    if relative.pk is not None:
        stored = ReceivingRelative.objects.filter(pk=relative.pk).first()
        if stored is None:
            raise NotVisible()
        require_visible(by, stored)
    elif by is not None:
        relative.created_by = by
    relative.full_clean()
    with transaction.atomic(), acting_as(by):
        relative.save()
    return relative
