"""Transfers between programmes: a case handed over to another programme (another region's,
or another country's running this software).

The case's caseworker, or a supervisor of the programme it is enrolled in, asks
(``transfer_request_create``); a supervisor of the receiving programme, and no one else,
accepts or refuses with a comment (``transfer_request_decide``). On acceptance, in one
transaction: the case's enrolment moves to the receiving programme through
``programmes.services.enrolment_transfer`` (a new enrolment with the receiving catalogue's
plan; the open stages carried over or closed, as the receiving supervisor decides), the
receiving programme's caseworker takes the case over (``case_assign``), and the request
keeps, in ``handed_over``, the sending programme's read-only record of what it handed over.
The person's consents, the case's notes, status history, referrals and ended enrolments
stay with the case, so the receiving staff see them; the sending staff lose the case with
their enrolment (``programmes.selectors.enrolments_giving_access``) and keep the record.
Every row is saved audited as the user who acted.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import acting_as
from casework.models import Case, CaseStatus
from casework.selectors import staff_cases_of
from core.errors import NotVisible, TransitionNotAllowed
from core.roles import SUPERVISOR, is_administrator, programme_ids_for
from core.visibility import staff_of
from lifecycle.models import TransferCarryOver, TransferRequest, TransferStatus
from programmes import services as programme_services
from programmes.models import OPEN_STAGE_STATUSES, Enrolment, EnrolmentStatus, FollowUp, Programme


def transfer_requests_visible_to(user) -> QuerySet[TransferRequest]:
    """The requests of the programmes a user works in, sending or receiving (all of them for
    administrators; none for a partner agency)."""
    if is_administrator(user):
        return TransferRequest.objects.all()
    programme_ids = programme_ids_for(user)
    return TransferRequest.objects.filter(Q(from_programme_id__in=programme_ids) | Q(to_programme_id__in=programme_ids))


def _sending_enrolment(case: Case, user) -> Enrolment | None:
    """The case's active enrolment that ``user`` may hand over: in a programme they supervise,
    or any of the case's when they are its caseworker."""
    enrolments = case.enrolments.filter(status=EnrolmentStatus.ACTIVE).select_related("programme").order_by("pk")
    supervised = set(programme_ids_for(user, role=SUPERVISOR))
    for enrolment in enrolments:
        if enrolment.programme_id in supervised or case.caseworker_id == user.pk:
            return enrolment
    return None


def may_request(user, case: Case) -> bool:
    """Whether ``user`` may ask to transfer this case (what ``transfer_request_create`` checks)."""
    return (
        case.status != CaseStatus.CLOSED
        and _sending_enrolment(case, user) is not None
        and not case.transfer_requests.filter(status=TransferStatus.PENDING).exists()
    )


def transfer_destinations(case: Case) -> QuerySet[Programme]:
    """The programmes a case may be handed over to: every active programme it is not
    actively enrolled in (their names are no secret; their cases are)."""
    enrolled = case.enrolments.filter(status=EnrolmentStatus.ACTIVE).values("programme_id")
    return Programme.objects.filter(is_active=True).exclude(pk__in=enrolled).order_by("name")


@transaction.atomic
def transfer_request_create(*, case_id: int, to_programme_id: int, by, reason: str) -> TransferRequest:
    """Ask another programme to take a case over. A case ``by`` may not see as staff raises
    ``NotVisible`` (404); only its caseworker or a supervisor of its programme asks (409)."""
    cases = Case.objects.all() if is_administrator(by) else staff_cases_of(by)
    if cases is None or not cases.filter(pk=case_id).exists():
        raise NotVisible()
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.status == CaseStatus.CLOSED:
        raise TransitionNotAllowed(_("A closed case is not transferred."))
    sending = _sending_enrolment(case, by)
    if sending is None:
        raise TransitionNotAllowed(
            _("A transfer is asked for by the case's caseworker or a supervisor of its programme.")
        )
    to_programme = transfer_destinations(case).filter(pk=to_programme_id).first()
    if to_programme is None:
        raise ValidationError({"to_programme": _("Choose another active programme.")})
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Give the reason for the transfer.")})
    if case.transfer_requests.filter(status=TransferStatus.PENDING).exists():
        raise TransitionNotAllowed(_("This case already has a pending transfer request."))
    request = TransferRequest(
        case=case,
        from_programme=sending.programme,
        to_programme=to_programme,
        requested_by=by,
        reason=reason.strip(),
    )
    request.full_clean(validate_constraints=False)
    try:
        with transaction.atomic(), acting_as(by):
            request.save()
    except IntegrityError as exc:
        raise TransitionNotAllowed(_("This case already has a pending transfer request.")) from exc
    return request


def may_decide(user, request: TransferRequest) -> bool:
    """Whether ``user`` may accept or refuse this request: a supervisor of the receiving
    programme, while it is pending (what ``transfer_request_decide`` checks)."""
    return request.status == TransferStatus.PENDING and request.to_programme_id in programme_ids_for(
        user, role=SUPERVISOR
    )


def receiving_caseworkers(request: TransferRequest) -> QuerySet:
    """Who may take the case over: the receiving programme's staff."""
    return staff_of([request.to_programme_id])


def handed_over_record(case: Case, enrolment: Enrolment) -> dict:
    """What the sending programme hands over, as it stands now: the plan of its enrolment,
    the open follow-ups, the consents, referrals and notes that go with the case. Codes,
    labels and dates only; no free text about the person."""
    stages = enrolment.stages.select_related("stage_type").order_by("stage_type__position", "pk")
    return {
        "case": case.reference,
        "programme": enrolment.programme.code,
        "enrolled_on": enrolment.enrolled_on.isoformat(),
        "stages": [
            {
                "code": stage.stage_type.code,
                "name": stage.stage_type.name,
                "status": stage.status,
                "planned_start": stage.planned_start.isoformat(),
                "due_date": stage.due_date.isoformat(),
                "completed_on": stage.completed_on.isoformat() if stage.completed_on else None,
            }
            for stage in stages
        ],
        "open_stages": sum(1 for stage in stages if stage.status in OPEN_STAGE_STATUSES),
        "open_follow_ups": FollowUp.objects.filter(
            stage__enrolment=enrolment, done_on__isnull=True, cancelled_on__isnull=True
        ).count(),
        "consents": [
            {
                "purpose": consent.purpose,
                "agency": consent.agency.code if consent.agency else None,
                "given_on": consent.given_on.isoformat(),
                "withdrawn_on": consent.withdrawn_on.isoformat() if consent.withdrawn_on else None,
            }
            for consent in case.person.consents.select_related("agency").order_by("given_on", "pk")
        ],
        "referrals": [
            {"agency": referral.agency.code, "purpose": referral.purpose, "status": referral.status}
            for referral in case.referrals.select_related("agency").order_by("referred_on", "pk")
        ],
        "notes": case.notes.count(),
    }


@transaction.atomic
def transfer_request_decide(
    *,
    request_id: int,
    by,
    accept: bool,
    carry_over: str = "",
    caseworker=None,
    comment: str = "",
) -> TransferRequest:
    """Accept or refuse a pending transfer. A request ``by`` may not see raises
    ``NotVisible`` (404); only a supervisor of the receiving programme decides (409). A
    refusal needs a comment; an acceptance says how the stage plan is taken over
    (``TransferCarryOver``) and who takes the case over (the receiving programme's staff;
    the deciding supervisor by default)."""
    if not transfer_requests_visible_to(by).filter(pk=request_id).exists():
        raise NotVisible()
    request = TransferRequest.objects.select_for_update().get(pk=request_id)
    case = Case.objects.select_for_update().get(pk=request.case_id)
    if request.status != TransferStatus.PENDING:
        raise TransitionNotAllowed(_("This transfer request has already been decided."))
    if not may_decide(by, request):
        raise TransitionNotAllowed(_("Only a supervisor of the receiving programme decides on a transfer."))
    comment = (comment or "").strip()
    if not accept:
        if not comment:
            raise ValidationError({"comment": _("Say why the transfer is refused.")})
        return _decided(request, by=by, status=TransferStatus.REFUSED, comment=comment)
    if carry_over not in TransferCarryOver.values:
        raise ValidationError({"carry_over": _("Choose how the stage plan is taken over.")})
    taker = caseworker or by
    if not receiving_caseworkers(request).filter(pk=taker.pk).exists():
        raise ValidationError({"caseworker": _("The caseworker must work in the receiving programme.")})
    if case.status == CaseStatus.CLOSED:
        raise TransitionNotAllowed(_("A closed case is not transferred."))
    sending = case.enrolments.filter(programme_id=request.from_programme_id, status=EnrolmentStatus.ACTIVE).first()
    if sending is None:
        raise TransitionNotAllowed(_("The case is no longer enrolled in the sending programme."))
    record = handed_over_record(case, sending)
    programme_services.enrolment_transfer(
        case=case, to_programme=request.to_programme, by=by, carry_over=carry_over, from_programme=sending.programme
    )
    programme_services.case_assign(case_id=case.pk, caseworker=taker, by=by)
    record["handed_over_at"] = timezone.now().isoformat(timespec="seconds")
    record["to_programme"] = request.to_programme.code
    record["carry_over"] = carry_over
    request.carry_over = carry_over
    request.handed_over = record
    return _decided(request, by=by, status=TransferStatus.ACCEPTED, comment=comment)


def _decided(request: TransferRequest, *, by, status: str, comment: str) -> TransferRequest:
    request.status = status
    request.decided_by = by
    request.decided_at = timezone.now()
    request.comment = comment
    request.full_clean(validate_constraints=False)
    with acting_as(by):
        request.save()
    return request
