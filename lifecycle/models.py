"""What the lifecycle keeps of its own: the cohort imports and their rows (the review queue)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
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
