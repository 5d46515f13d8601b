"""The e-mails an agency's members receive about its referrals: a new referral awaits
their answer, and a referral ended because the consent it rested on was withdrawn.

They leave the system, so they name no one: the referral's reference, the case's
reference, the purpose and a link (registered with the outbox in ``casework.apps``).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy

from casework.models import ACTIVE_REFERRAL_STATUSES, Referral, ReferralStatus
from notifications import kinds
from notifications.delivery import notification_create
from notifications.emails import templated_message

REFERRAL_NEW = "referral_new"
REFERRAL_ENDED = "referral_ended"
REFERRAL_SUBJECT = "referral"


def agency_members_notify(referral: Referral, kind: str) -> None:
    """One e-mail to each active member of the referral's agency (the outbox keeps one per day)."""
    today = timezone.localdate()
    for member in referral.agency.members.filter(is_active=True).exclude(email="").order_by("pk"):
        notification_create(
            kind=kind, subject_type=REFERRAL_SUBJECT, subject_id=referral.pk, recipient=member, due_on=today
        )


def referrals_ended_by_withdrawal(consent) -> None:
    """The consent was withdrawn: its open referrals end for their agencies; tell them."""
    for referral in Referral.objects.filter(consent=consent, status__in=ACTIVE_REFERRAL_STATUSES).select_related(
        "agency"
    ):
        agency_members_notify(referral, REFERRAL_ENDED)


def _link(referral: Referral) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/api/v1/referrals/{referral.pk}/"


def render_referral_email(notification):
    """None once there is nothing to say: a new referral already answered, an ended one
    whose consent is current again, a recipient no longer in the agency."""
    referral = Referral.objects.select_related("case", "agency", "consent").filter(pk=notification.subject_id).first()
    if referral is None or not referral.agency.members.filter(pk=notification.recipient_id).exists():
        return None
    if notification.kind == REFERRAL_NEW and referral.status != ReferralStatus.PENDING:
        return None
    if notification.kind == REFERRAL_ENDED and referral.consent.withdrawn_on is None:
        return None
    context = {
        "reference": f"R-{referral.pk}",
        "case_reference": referral.case.reference,
        "agency": referral.agency.name,
        "purpose": referral.get_purpose_display(),
        "link": _link(referral),
    }
    return templated_message(notification, f"casework/emails/{notification.kind}", context)


def register_emails() -> None:
    kinds.register(
        kinds.EmailKind(
            key=REFERRAL_NEW,
            label=gettext_lazy("New referral to an agency"),
            subject_types=(REFERRAL_SUBJECT,),
            render=render_referral_email,
        ),
        kinds.EmailKind(
            key=REFERRAL_ENDED,
            label=gettext_lazy("Referral ended by a consent withdrawal"),
            subject_types=(REFERRAL_SUBJECT,),
            render=render_referral_email,
        ),
    )
