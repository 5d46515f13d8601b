"""One function per e-mail kind, each rendered from a template triple (subject, text, HTML).

E-mails leave the system: they name a person by case reference only, never by
name, and carry no sensitive fields. ``render`` returns None for a
notification that is no longer relevant (the follow-up was done meanwhile).
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.selectors import user_language
from notifications.models import Notification, NotificationKind, SubjectType


def _message(notification: Notification, template: str, context: dict) -> EmailMultiAlternatives:
    recipient = notification.recipient
    context = {**context, "recipient": recipient, "notification": notification, "site_url": settings.SITE_URL}
    # Each recipient reads their own language; lazy labels in the context follow it.
    with translation.override(user_language(recipient) or settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"notifications/emails/{template}_subject.txt", context).split())
        text = render_to_string(f"notifications/emails/{template}_body.txt", context)
        html = render_to_string(f"notifications/emails/{template}_body.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        headers={"Message-ID": notification.message_id, "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def _deadline_context(notification: Notification) -> dict | None:
    from programmes.models import OPEN_STAGE_STATUSES, FollowUp, StageRecord

    if notification.subject_type == SubjectType.FOLLOW_UP:
        follow_up = (
            FollowUp.objects.select_related(
                "stage__stage_type", "stage__enrolment__case", "stage__enrolment__programme"
            )
            .filter(pk=notification.subject_id)
            .first()
        )
        if follow_up is None or not follow_up.is_open:
            return None
        # The lazy label, not get_kind_display(): it is translated when _message renders it.
        stage, what, due_date = follow_up.stage, follow_up.Kind(follow_up.kind).label, follow_up.due_date
        link = reverse("admin:programmes_followup_change", args=[follow_up.pk])
    else:
        stage = (
            StageRecord.objects.select_related("stage_type", "enrolment__case", "enrolment__programme")
            .filter(pk=notification.subject_id)
            .first()
        )
        if stage is None or stage.status not in OPEN_STAGE_STATUSES:
            return None
        what, due_date = format_lazy(_("End of stage: {stage}"), stage=stage.stage_type.name), stage.due_date
        link = reverse("admin:programmes_stagerecord_change", args=[stage.pk])
    programme = stage.enrolment.programme
    today = programme.local_today()
    return {
        "case_reference": stage.enrolment.case.reference,
        "stage_name": stage.stage_type.name,
        "what": what,
        "due_date": due_date,
        "days_overdue": (today - due_date).days,
        "days_left": (due_date - today).days,
        "programme": programme.name,
        "link": settings.SITE_URL.rstrip("/") + link,
    }


def _closure_context(notification: Notification) -> dict | None:
    from casework.models import ClosureRequest, ClosureRequestStatus

    request = ClosureRequest.objects.select_related("case", "requested_by").filter(pk=notification.subject_id).first()
    if request is None or request.status != ClosureRequestStatus.PENDING:
        return None
    return {
        "case_reference": request.case.reference,
        "requested_by": request.requested_by.get_username(),
        "requested_at": request.requested_at,
        "link": settings.SITE_URL.rstrip("/") + reverse("admin:casework_closurerequest_change", args=[request.pk]),
    }


class _MIMEMessage(email.message.EmailMessage):
    """A standard-library message that Django's mail backends can write (they pass ``linesep``)."""

    def as_bytes(self, unixfrom=False, policy=None, linesep=None):
        policy = policy or self.policy
        if linesep:
            policy = policy.clone(linesep=linesep)
        return super().as_bytes(unixfrom=unixfrom, policy=policy)


class ReportEmail(EmailMultiAlternatives):
    """text + HTML alternatives, the chart related to the HTML (cid:stage-funnel), the CSV attached."""

    def __init__(self, *, html: str, chart_png: bytes, csv_name: str, csv_text: str, **kwargs):
        super().__init__(**kwargs)
        self.html, self.chart_png, self.csv_name, self.csv_text = html, chart_png, csv_name, csv_text

    def message(self):
        message = _MIMEMessage(policy=email.policy.SMTP)
        message["Subject"] = self.subject
        message["From"] = self.from_email
        message["To"] = ", ".join(self.to)
        message["Date"] = email.utils.formatdate(localtime=True)
        for name, value in self.extra_headers.items():
            message[name] = value
        message.set_content(self.body)
        message.add_alternative(self.html, subtype="html")
        message.get_payload()[1].add_related(self.chart_png, maintype="image", subtype="png", cid="<stage-funnel>")
        message.add_attachment(self.csv_text, subtype="csv", charset="utf-8", filename=self.csv_name)
        return message


def _report_message(notification: Notification) -> ReportEmail | None:
    from programmes.models import StageReport

    report = StageReport.objects.select_related("programme").filter(pk=notification.subject_id).first()
    if report is None:
        return None
    return ReportEmail(
        subject=report.subject,
        body=report.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        headers={"Message-ID": notification.message_id, "Auto-Submitted": "auto-generated"},
        html=report.html,
        chart_png=bytes(report.chart_png),
        csv_name=f"stage-report-{report.programme.code}-{report.period}.csv",
        csv_text=report.csv,
    )


def render(notification: Notification) -> EmailMultiAlternatives | None:
    recipient = notification.recipient
    if not recipient.is_active or not recipient.email:
        return None
    if notification.kind == NotificationKind.STAGE_REPORT:
        return _report_message(notification)
    if notification.kind == NotificationKind.CLOSURE_REQUESTED:
        context = _closure_context(notification)
        template = "closure_requested"
    else:
        context = _deadline_context(notification)
        template = notification.kind
    if context is None:
        return None
    return _message(notification, template, context)
