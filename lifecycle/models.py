"""What the lifecycle keeps of its own: the cohort imports and their rows (the review queue)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from encrypted_model_fields.fields import EncryptedCharField

from casework.models import Case, Person, RepatriationOperation, validate_printable_text
from programmes.models import Programme


class CohortImportRowStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting review")
    REGISTERED = "registered", _("Registered as a new person")
    LINKED = "linked", _("Linked to a person on file")
    SKIPPED = "skipped", _("Not registered")


class CohortImport(models.Model):
    """One run of the cohort import (``lifecycle.cohort_import``): the file, where it went,
    who ran it and what came of it. The file itself is not kept, only its SHA-256."""

    file_name = models.CharField(_("file name"), max_length=255, validators=[validate_printable_text])
    file_digest = models.CharField(_("file digest"), max_length=64, help_text=_("SHA-256 of the file as uploaded."))
    programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="cohort_imports", verbose_name=_("programme")
    )
    operation = models.ForeignKey(
        RepatriationOperation, on_delete=models.PROTECT, related_name="cohort_imports", verbose_name=_("operation")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created_persons = models.PositiveIntegerField(_("created persons"), default=0)
    created_cases = models.PositiveIntegerField(_("created cases"), default=0)
    linked = models.PositiveIntegerField(_("linked"), default=0)
    awaiting_review = models.PositiveIntegerField(_("awaiting review"), default=0)

    class Meta:
        verbose_name = _("cohort import")
        verbose_name_plural = _("cohort imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Cohort import {self.pk} ({self.created_at:%Y-%m-%d})" if self.created_at else "Cohort import"


class CohortImportRow(models.Model):
    """A row of an imported file, kept to recognise it when the file comes again and, while
    its family awaits a caseworker's decision, to register it then.

    ``data`` holds the parsed fields except the identifier's value, which is encrypted at
    rest as ``PersonIdentifier.value`` is; ``fingerprint`` is a keyed hash of the row's
    normalised fields, so that the table alone does not let anyone test guessed rows.
    """

    Status = CohortImportRowStatus

    cohort_import = models.ForeignKey(
        CohortImport, on_delete=models.CASCADE, related_name="import_rows", verbose_name=_("cohort import")
    )
    row_number = models.PositiveIntegerField(_("row number"))
    household_key = models.CharField(_("household key"), max_length=100, validators=[validate_printable_text])
    fingerprint = models.CharField(_("fingerprint"), max_length=64, db_index=True)
    data = models.JSONField(_("data"), default=dict)
    identifier_value = EncryptedCharField(_("identifier value"), max_length=100, blank=True, default="")
    identifier_digest = models.CharField(_("identifier digest"), max_length=64, blank=True, default="")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    candidates = models.JSONField(
        _("candidates"),
        default=list,
        blank=True,
        help_text=_("People who may be this person: [{person, score, reasons}], best first."),
    )
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("person")
    )
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("case")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("cohort import row")
        verbose_name_plural = _("cohort import rows")
        ordering = ["cohort_import", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["cohort_import", "row_number"], name="cohort_import_row_unique"),
            models.CheckConstraint(
                condition=Q(status__in=CohortImportRowStatus.values), name="cohort_import_row_status_valid"
            ),
        ]
        indexes = [
            # The review queue: pending rows of an import.
            models.Index(fields=["status", "cohort_import"], name="cohort_import_row_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} of cohort import {self.cohort_import_id}"


class TransferStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting the receiving programme")
    ACCEPTED = "accepted", _("Accepted")
    REFUSED = "refused", _("Refused")


class TransferCarryOver(models.TextChoices):
    """How the receiving programme takes the stage plan over (``programmes.services``)."""

    CARRY_OPEN = "carry_open", _("Carry over the open stages")
    RESTART = "restart", _("Close the open stages and start the receiving plan")


class TransferRequest(models.Model):
    """A case handed over to another programme (another region's, or another country's running
    this software): asked by the case's caseworker or a supervisor of the sending programme,
    decided by a supervisor of the receiving programme (``lifecycle.transfer``).

    Once accepted, ``handed_over`` is the sending programme's read-only record of what it
    handed over and when: its staff see this row, and no longer the case.
    """

    Status = TransferStatus
    CarryOver = TransferCarryOver

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="transfer_requests", verbose_name=_("case"))
    from_programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="transfers_out", verbose_name=_("from programme")
    )
    to_programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="transfers_in", verbose_name=_("to programme")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    reason = models.TextField(_("reason"), validators=[validate_printable_text])
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    carry_over = models.CharField(
        _("stage plan"),
        max_length=12,
        choices=CarryOver.choices,
        blank=True,
        help_text=_("How the receiving programme took the stage plan over."),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True, help_text=_("The receiving supervisor's comment."))
    handed_over = models.JSONField(
        _("handed over"),
        default=dict,
        blank=True,
        help_text=_("What the sending programme handed over, as it stood on acceptance."),
    )

    class Meta:
        verbose_name = _("transfer request")
        verbose_name_plural = _("transfer requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=TransferStatus.values), name="transfer_status_valid"),
            models.CheckConstraint(
                condition=Q(carry_over__in=["", *TransferCarryOver.values]), name="transfer_carry_over_valid"
            ),
            models.CheckConstraint(
                condition=~Q(from_programme=F("to_programme")),
                name="transfer_between_two_programmes",
                violation_error_message=_("A case is transferred to another programme."),
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="transfer_decided_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | ~Q(carry_over=""),
                name="transfer_accepted_says_how",
            ),
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status="pending"),
                name="transfer_one_pending_per_case",
                violation_error_message=_("This case already has a pending transfer request."),
            ),
        ]
        indexes = [
            # The receiving programme's queue: its pending requests.
            models.Index(fields=["to_programme", "status"], name="transfer_to_status_idx"),
            # The sending programme's record of what it handed over.
            models.Index(fields=["from_programme", "status"], name="transfer_from_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.case} → {self.to_programme}"
