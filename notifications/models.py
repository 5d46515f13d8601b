"""The durable outbox: one row per e-mail that must go out.

A row is unique per (kind, subject, recipient, due day), so whatever creates it
twice creates it once. Its status moves pending → claimed (by a sweep, which
enqueues a send task after commit) → sending (by the task, with a conditional
update that only one task can win) → sent. A failed send returns it to pending
with a later ``next_attempt_at``; a reaper returns rows stuck in claimed to
pending and re-sends rows stuck in sending under the same Message-ID.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notifications import kinds


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CLAIMED = "claimed", _("Claimed by a sweep")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Not sent: no longer relevant or no address")


class Notification(models.Model):
    # Which kinds exist, and what each is about, the producing apps say (notifications.kinds).
    kind = models.CharField(_("kind"), max_length=20)
    subject_type = models.CharField(_("subject type"), max_length=20)
    subject_id = models.BigIntegerField(_("subject id"))
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications", verbose_name=_("recipient")
    )
    due_on = models.DateField(_("due on"), help_text=_("The local calendar day the notification became due."))
    status = models.CharField(
        _("status"), max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    resends = models.PositiveIntegerField(
        _("resends"), default=0, help_text=_("Sends repeated after a send whose outcome was unknown (same Message-ID).")
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sending_at = models.DateTimeField(_("sending at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_type", "subject_id", "recipient", "due_on"], name="notification_once"
            ),
            models.CheckConstraint(condition=Q(status__in=NotificationStatus.values), name="notification_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="notification_sent_has_time"
            ),
        ]
        indexes = [
            # The sweep's claim: pending rows whose next attempt has come, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"], condition=Q(status="pending"), name="notification_pending_idx"
            ),
            # Reminder materialisation: which reminders of the last days exist already.
            models.Index(fields=["due_on"], name="notification_due_on_idx"),
            # The reaper: rows stuck in claimed or sending.
            models.Index(fields=["claimed_at"], condition=Q(status="claimed"), name="notification_claimed_idx"),
            models.Index(fields=["sending_at"], condition=Q(status="sending"), name="notification_sending_idx"),
        ]

    def clean(self):
        kinds.validate_kind(self.kind, self.subject_type)

    def get_kind_display(self) -> str:
        return kinds.label(self.kind)

    def __str__(self) -> str:
        return f"{kinds.label(self.kind)} for {self.subject_type} {self.subject_id} to user {self.recipient_id}"

    @property
    def message_id(self) -> str:
        """Deterministic, so a re-send after an unknown outcome is recognisable as the same message."""
        domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1]
        return f"<notification-{self.pk}.{self.kind}.{self.due_on:%Y%m%d}@{domain}>"
