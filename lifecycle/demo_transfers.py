"""The demo's pending transfer: a case of the northern programme that its caseworker has
asked the southern programme to take over, waiting for the southern supervisor's decision
(``lifecycle.transfer``). Made through the same service as the admin and the API; fictional."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from casework.models import Case, CaseStatus
from lifecycle.models import TransferRequest, TransferStatus
from lifecycle.transfer import transfer_request_create
from programmes.models import EnrolmentStatus, Programme

DEMO_TRANSFER_REASON = "The family is moving to the southern region to live with relatives (demo)."


def demo_transfers_reset() -> None:
    """Transfer requests hold their case: they go before the caseload does."""
    TransferRequest.objects.all().delete()


def demo_transfer_seed() -> TransferRequest | None:
    """One pending transfer from the northern programme to the southern one, asked for by the
    demo caseworker: the first of their open cases (by reference) enrolled in the north only,
    with no legal proceedings."""
    caseworker = get_user_model().objects.filter(username="caseworker").first()
    south = Programme.objects.filter(code="south").first()
    if caseworker is None or south is None or TransferRequest.objects.filter(status=TransferStatus.PENDING).exists():
        return None
    case = (
        Case.objects.filter(
            caseworker=caseworker,
            enrolments__programme__code="north",
            enrolments__status=EnrolmentStatus.ACTIVE,
            legal_proceedings__isnull=True,
        )
        .exclude(status=CaseStatus.CLOSED)
        .exclude(enrolments__programme=south)
        .order_by("reference")
        .first()
    )
    if case is None:
        return None
    return transfer_request_create(
        case_id=case.pk, to_programme_id=south.pk, by=caseworker, reason=DEMO_TRANSFER_REASON
    )
