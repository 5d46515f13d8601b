"""Case closure with approval: a caseworker asks, a supervisor of the case's programme decides.

Only an approved request closes a case; a closed case can be reopened. Every
change leaves a ``CaseStatusChange`` row, and a new request tells the
programme's supervisors through the notification outbox (in the same
transaction, so the request and its notice exist together or not at all).

Only programme staff who see a case (or an administrator) may ask for or decide
its closure; to anyone else the case does not exist. Closing a case ends its
enrolments through ``programmes.services`` (open stages discontinued, follow-ups
cancelled, each audited), and no stage of a closed case moves again. It ends its
sharing: its referrals end in the same transaction, and reopening the case does
not bring them back (a new referral, with consent, does).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.context import acting_as
from core.errors import NotVisible, TransitionNotAllowed
from casework.models import (
    Case,
    CaseStatus,
    CaseStatusChange,
    ClosureRequest,
    ClosureRequestStatus,
    Referral,
    ReferralStatus,
)
from core.roles import is_administrator
from casework.selectors import staff_cases_of
from notifications import kinds
from notifications.delivery import notification_create
from notifications.emails import templated_message
from programmes.services import enrolments_end_on_closure

#: The outbox's kind of the e-mail that asks supervisors to decide (``register_emails``).
CLOSURE_REQUESTED = "closure_requested"
#: The outbox's kind of the e-mail that tells the caseworker what was decided, and why.
CLOSURE_DECIDED = "closure_decided"
CLOSURE_REQUEST_SUBJECT = "closure_request"

# What closing a case does to its referrals that are still open: the agency's work
# is over (accepted → completed); one never taken on is withdrawn by the programme.
REFERRAL_END_ON_CLOSURE = {
    ReferralStatus.ACCEPTED: ReferralStatus.COMPLETED,
    ReferralStatus.PENDING: ReferralStatus.WITHDRAWN,
}


def _cases_staff_see(user):
    """The cases a user may ask about as programme staff: partners see none here."""
    if is_administrator(user):
        return Case.objects.all()
    cases = staff_cases_of(user)
    return Case.objects.none() if cases is None else cases


def case_supervisors(case: Case):
    """Active supervisors of the programmes the case is actively enrolled in."""
    from django.contrib.auth import get_user_model

    from programmes.models import EnrolmentStatus, ProgrammeMembershipRole

    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            programme_memberships__role=ProgrammeMembershipRole.SUPERVISOR,
            programme_memberships__programme__enrolments__case=case,
            programme_memberships__programme__enrolments__status=EnrolmentStatus.ACTIVE,
        )
        .distinct()
    )


def _local_today(case: Case):
    enrolment = case.enrolments.select_related("programme").order_by("-enrolled_on").first()
    return enrolment.programme.local_today() if enrolment else timezone.localdate()


@transaction.atomic
def case_closure_request(*, case_id: int, by, reason: str) -> ClosureRequest:
    """File a request to close a case. A case ``by`` may not see as staff raises
    ``NotVisible``, answered as a missing one (404): nothing is created or sent."""
    if not _cases_staff_see(by).filter(pk=case_id).exists():
        raise NotVisible()
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.status == CaseStatus.CLOSED:
        raise TransitionNotAllowed(_("The case is already closed."))
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Give the reason for closing the case.")})
    if ClosureRequest.objects.filter(case=case, status=ClosureRequestStatus.PENDING).exists():
        raise TransitionNotAllowed(_("This case already has a pending closure request."))
    try:
        with transaction.atomic(), acting_as(by):
            request = ClosureRequest.objects.create(case=case, requested_by=by, reason=reason.strip())
    except IntegrityError as exc:
        raise TransitionNotAllowed(_("This case already has a pending closure request.")) from exc

    today = _local_today(case)
    for supervisor in case_supervisors(case):
        notification_create(
            kind=CLOSURE_REQUESTED,
            subject_type=CLOSURE_REQUEST_SUBJECT,
            subject_id=request.pk,
            recipient=supervisor,
            due_on=today,
        )
    return request


def _may_decide(user, case: Case) -> bool:
    return is_administrator(user) or case_supervisors(case).filter(pk=user.pk).exists()


def may_decide(user, request: ClosureRequest) -> bool:
    """Whether ``user`` may decide this pending request (what ``case_closure_decide`` checks)."""
    return (
        request.status == ClosureRequestStatus.PENDING
        and _cases_staff_see(user).filter(pk=request.case_id).exists()
        and _may_decide(user, request.case)
        and (request.requested_by_id != user.pk or is_administrator(user))
    )


@dataclass
class OpenWork:
    """What closing a case ends: its open stages (discontinued), follow-ups (cancelled)
    and referrals (ended)."""

    stages: list
    follow_ups: list
    referrals: list

    def __bool__(self) -> bool:
        return bool(self.stages or self.follow_ups or self.referrals)


def case_open_work(case: Case) -> OpenWork:
    """The work still open on a case, as the decision page shows it before approval."""
    from programmes.models import EnrolmentStatus, FollowUp, StageRecord
    from programmes.rules import OPEN_STAGE_STATUSES

    return OpenWork(
        stages=list(
            StageRecord.objects.filter(
                enrolment__case=case, enrolment__status=EnrolmentStatus.ACTIVE, status__in=OPEN_STAGE_STATUSES
            )
            .select_related("stage_type")
            .order_by("stage_type__position")
        ),
        follow_ups=list(
            FollowUp.objects.filter(
                stage__enrolment__case=case,
                stage__enrolment__status=EnrolmentStatus.ACTIVE,
                done_on__isnull=True,
                cancelled_on__isnull=True,
            )
            .select_related("stage__stage_type")
            .order_by("due_date", "pk")
        ),
        referrals=list(
            Referral.objects.filter(case=case, status__in=REFERRAL_END_ON_CLOSURE)
            .select_related("agency")
            .order_by("referred_on", "pk")
        ),
    )


@transaction.atomic
def case_closure_decide(
    *, request_id: int, by, approve: bool, comment: str = "", open_work_acknowledged: bool = True
) -> ClosureRequest:
    """Approve or reject a pending request. A request on a case ``by`` may not see as
    staff raises ``NotVisible``, answered as a missing one (404).

    ``open_work_acknowledged=False`` (the admin's list action, which shows nothing of the
    case) refuses to approve a case that still has open work (``case_open_work``): the
    decision page shows it first. The caseworker who asked, and the case's caseworker,
    are told the decision and the comment through the outbox, in the same transaction."""
    request = ClosureRequest.objects.select_for_update().select_related("case").get(pk=request_id)
    if not _cases_staff_see(by).filter(pk=request.case_id).exists():
        raise NotVisible()
    case = Case.objects.select_for_update().get(pk=request.case_id)
    if request.status != ClosureRequestStatus.PENDING:
        raise TransitionNotAllowed(_("This closure request has already been decided."))
    if not _may_decide(by, case):
        raise TransitionNotAllowed(_("Only a supervisor of the case's programme can decide on its closure."))
    if request.requested_by_id == by.pk and not is_administrator(by):
        raise TransitionNotAllowed(_("A closure request is decided by someone other than who made it."))
    if not approve and not (comment or "").strip():
        raise ValidationError({"comment": _("Say why the closure is rejected.")})
    if approve and not open_work_acknowledged and case_open_work(case):
        raise TransitionNotAllowed(
            _("The case still has open stages, follow-ups or referrals: decide on its closure page.")
        )
    request.status = ClosureRequestStatus.APPROVED if approve else ClosureRequestStatus.REJECTED
    request.decided_by = by
    request.decided_at = timezone.now()
    request.comment = (comment or "").strip()
    with acting_as(by):
        request.save()
    if approve:
        _close(case, by=by, request=request)
    today = _local_today(case)
    for recipient_id in {request.requested_by_id, case.caseworker_id} - {None, by.pk}:
        notification_create(
            kind=CLOSURE_DECIDED,
            subject_type=CLOSURE_REQUEST_SUBJECT,
            subject_id=request.pk,
            recipient=get_user_model().objects.get(pk=recipient_id),
            due_on=today,
        )
    return request


def _close(case: Case, *, by, request: ClosureRequest) -> None:
    """Close a locked case: its enrolments end through the programmes' service (their
    open stages discontinued through the workflow, their follow-ups cancelled), its
    referrals end, then the case is marked closed; one audited save per row.

    The enrolments end before the case is marked closed: the workflow refuses every
    transition on a closed case, the closure's own included.
    """
    today = _local_today(case)
    previous = case.status
    closed_on = max(today, case.opened_on)
    enrolments_end_on_closure(case=case, by=by, on=closed_on)
    case.status = CaseStatus.CLOSED
    case.closed_on = closed_on
    case.full_clean()
    with acting_as(by):
        case.save()
        _referrals_end(case, on=today)
    CaseStatusChange.objects.create(
        case=case,
        from_status=previous,
        to_status=CaseStatus.CLOSED,
        by=by,
        note=request.reason,
        closure_request=request,
    )


def _referrals_end(case: Case, *, on) -> None:
    """End the case's open referrals, one audited save each (not a bulk update), so the
    agencies lose access on their next request and the trail says who ended them."""
    referrals = Referral.objects.select_for_update().filter(case=case, status__in=REFERRAL_END_ON_CLOSURE)
    for referral in referrals.order_by("pk"):
        referral.status = REFERRAL_END_ON_CLOSURE[referral.status]
        if referral.status == ReferralStatus.COMPLETED and referral.responded_on is None:
            referral.responded_on = max(on, referral.referred_on)
        referral.save(update_fields=["status", "responded_on", "updated_at"])


@transaction.atomic
def case_reopen(*, case_id: int, by, reason: str) -> Case:
    """Reopen a closed case. A case ``by`` may not see as staff raises ``NotVisible``
    (404). Its enrolments, stages and referrals stay ended: a new enrolment (or
    referral) starts the work again."""
    if not _cases_staff_see(by).filter(pk=case_id).exists():
        raise NotVisible()
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.status != CaseStatus.CLOSED:
        raise TransitionNotAllowed(_("Only a closed case can be reopened."))
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Give the reason for reopening the case.")})
    case.status = CaseStatus.REOPENED
    case.closed_on = None
    try:
        case.full_clean()
    except ValidationError as exc:
        # The person has another open case: the database allows one.
        raise TransitionNotAllowed(" ".join(exc.messages)) from exc
    with acting_as(by):
        case.save()
    CaseStatusChange.objects.create(
        case=case, from_status=CaseStatus.CLOSED, to_status=CaseStatus.REOPENED, by=by, note=reason.strip()
    )
    return case


def render_closure_email(notification):
    """The supervisors' e-mail about a pending closure request; None once it is decided."""
    request = ClosureRequest.objects.select_related("case", "requested_by").filter(pk=notification.subject_id).first()
    if request is None or request.status != ClosureRequestStatus.PENDING:
        return None
    context = {
        "case_reference": request.case.reference,
        "requested_by": request.requested_by.get_username(),
        "requested_at": request.requested_at,
        "link": settings.SITE_URL.rstrip("/") + reverse("admin:casework_closurerequest_change", args=[request.pk]),
    }
    return templated_message(notification, "lifecycle/emails/closure_requested", context)


def render_closure_decision_email(notification):
    """The caseworker's e-mail about a decided closure request: approved or rejected, and
    whether there is a comment; never the comment itself (free text stays in the system,
    where retention reaches it)."""
    request = ClosureRequest.objects.select_related("case", "decided_by").filter(pk=notification.subject_id).first()
    if request is None or request.status == ClosureRequestStatus.PENDING:
        return None
    context = {
        "case_reference": request.case.reference,
        "approved": request.status == ClosureRequestStatus.APPROVED,
        "decided_by": request.decided_by.get_username() if request.decided_by else "",
        "decided_at": request.decided_at,
        "has_comment": bool((request.comment or "").strip()),
        "link": settings.SITE_URL.rstrip("/") + reverse("admin:casework_case_change", args=[request.case_id]),
    }
    return templated_message(notification, "lifecycle/emails/closure_decided", context)


def register_emails() -> None:
    """Tell the outbox about the closure e-mails (called from ``lifecycle.apps``)."""
    kinds.register(
        kinds.EmailKind(
            key=CLOSURE_REQUESTED,
            label=gettext_lazy("Case closure awaiting approval"),
            subject_types=(CLOSURE_REQUEST_SUBJECT,),
            render=render_closure_email,
        ),
        kinds.EmailKind(
            key=CLOSURE_DECIDED,
            label=gettext_lazy("Case closure decided"),
            subject_types=(CLOSURE_REQUEST_SUBJECT,),
            render=render_closure_decision_email,
        ),
    )
