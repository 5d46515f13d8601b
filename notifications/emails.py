"""Building the e-mail of an outbox row: each kind's producer renders it
(``notifications.kinds``), from a template triple (``templated_message``) or as a
report with a chart and a CSV (``ReportEmail``).

E-mails leave the system: they name a person by case reference only, never by
name, and carry no sensitive fields. ``render`` returns None for a
notification that is no longer relevant (the follow-up was done meanwhile).
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from accounts.selectors import user_language
from notifications import kinds
from notifications.models import Notification

logger = logging.getLogger(__name__)


def templated_message(notification: Notification, template: str, context: dict) -> EmailMultiAlternatives:
    """A text and HTML e-mail from a template triple: ``<template>_subject.txt``,
    ``<template>_body.txt`` and ``<template>_body.html`` (the HTML may extend
    ``notifications/emails/_base.html``), in the recipient's language."""
    recipient = notification.recipient
    context = {**context, "recipient": recipient, "notification": notification, "site_url": settings.SITE_URL}
    # Each recipient reads their own language; lazy labels in the context follow it.
    with translation.override(user_language(recipient) or settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        text = render_to_string(f"{template}_body.txt", context)
        html = render_to_string(f"{template}_body.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        headers={"Message-ID": notification.message_id, "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


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


def render(notification: Notification) -> EmailMultiAlternatives | None:
    """The message of one outbox row, built by its kind's producer; None when there is
    nothing to send any more (the recipient left, the follow-up was done meanwhile, or
    no installed app knows the kind)."""
    recipient = notification.recipient
    if not recipient.is_active or not recipient.email:
        return None
    try:
        kind = kinds.get(notification.kind)
    except ImproperlyConfigured:
        logger.error("notification %s: no app renders its kind; not sent", notification.pk)
        return None
    return kind.render(notification)
