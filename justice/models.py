"""The justice track: a person's legal proceedings, court hearings, sentence, detention
and post-release conditions.

Who reads them is one rule (``justice.selectors``): administrators, the
programme's supervisors and legal officers, and a partner agency only under an
accepted referral for legal aid. The charges and the hearings' notes are free
text kept encrypted at rest (Fernet, ``FIELD_ENCRYPTION_KEY``, as the person's
identifiers): never shown to a partner, never written into an e-mail or the
change log.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from encrypted_model_fields.fields import EncryptedTextField

from casework.models import validate_printable_text


class ProceedingStage(models.TextChoices):
    INVESTIGATION = "investigation", _("Investigation")
    CHARGED = "charged", _("Charged")
    TRIAL = "trial", _("On trial")
    DECIDED = "decided", _("Verdict given")


class Verdict(models.TextChoices):
    PENDING = "pending", _("No verdict yet")
    CONVICTED = "convicted", _("Convicted")
    ACQUITTED = "acquitted", _("Acquitted")
    DISMISSED = "dismissed", _("Case dismissed")


class SentenceKind(models.TextChoices):
    NONE = "", _("No sentence")
    IMPRISONMENT = "imprisonment", _("Imprisonment")
    SUSPENDED = "suspended", _("Suspended sentence")
    PROBATION = "probation", _("Probation")
    FINE = "fine", _("Fine")
    COMMUNITY_SERVICE = "community_service", _("Community service")


class Representation(models.TextChoices):
    NONE = "none", _("None yet")
    STATE_APPOINTED = "state_appointed", _("State-appointed lawyer")
    PRIVATE = "private", _("Private lawyer")
    LEGAL_AID = "legal_aid", _("Legal aid agency")


class LegalProceeding(models.Model):
    """One set of proceedings against a person: from investigation to verdict, sentence and release."""

    Stage = ProceedingStage

    case = models.ForeignKey(
        "casework.Case", on_delete=models.PROTECT, related_name="legal_proceedings", verbose_name=_("case")
    )
    stage = models.CharField(
        _("stage"), max_length=15, choices=ProceedingStage.choices, default=ProceedingStage.INVESTIGATION
    )
    opened_on = models.DateField(_("opened on"), help_text=_("Day the investigation was opened."))
    authority = models.CharField(
        _("authority"),
        max_length=200,
        blank=True,
        validators=[validate_printable_text],
        help_text=_("Investigating authority."),
    )
    charges = EncryptedTextField(
        _("charges"), blank=True, help_text=_("Sensitive: never shown to partner agencies nor written into e-mails.")
    )
    verdict = models.CharField(_("verdict"), max_length=10, choices=Verdict.choices, default=Verdict.PENDING)
    verdict_on = models.DateField(_("verdict on"), null=True, blank=True)
    sentence_kind = models.CharField(
        _("sentence kind"), max_length=20, choices=SentenceKind.choices, blank=True, default=""
    )
    sentence_months = models.PositiveSmallIntegerField(_("sentence months"), null=True, blank=True)
    sentence_start = models.DateField(_("sentence start"), null=True, blank=True)
    detained_since = models.DateField(
        _("detained since"),
        null=True,
        blank=True,
        help_text=_("First day in custody, before trial or under the sentence."),
    )
    detention_place = models.CharField(
        _("detention place"), max_length=200, blank=True, validators=[validate_printable_text]
    )
    expected_release_on = models.DateField(_("expected release on"), null=True, blank=True)
    actual_release_on = models.DateField(
        _("actual release on"),
        null=True,
        blank=True,
        help_text=_("Recorded through the release: it switches the plan to the community."),
    )
    representation = models.CharField(
        _("representation"), max_length=20, choices=Representation.choices, default=Representation.NONE
    )
    representative = models.CharField(
        _("representative"),
        max_length=200,
        blank=True,
        validators=[validate_printable_text],
        help_text=_("Lawyer or legal aid agency."),
    )
    reporting_duty = models.CharField(
        _("reporting duty"),
        max_length=200,
        blank=True,
        validators=[validate_printable_text],
        help_text=_("After release: where and how often the person reports, e.g. weekly to the district police."),
    )
    reporting_until = models.DateField(_("reporting until"), null=True, blank=True)
    travel_ban = models.BooleanField(_("travel ban"), default=False)
    travel_ban_until = models.DateField(_("travel ban until"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("legal proceeding")
        verbose_name_plural = _("legal proceedings")
        ordering = ["-opened_on", "-id"]
        indexes = [
            # Report and reminders: who is in custody, and whose release is near.
            models.Index(
                fields=["expected_release_on"],
                condition=Q(detained_since__isnull=False, actual_release_on__isnull=True),
                name="proceeding_in_custody_idx",
            ),
            models.Index(fields=["actual_release_on"], name="proceeding_released_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(stage__in=ProceedingStage.values), name="proceeding_stage_valid"),
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="proceeding_verdict_valid"),
            models.CheckConstraint(
                condition=Q(sentence_kind__in=SentenceKind.values), name="proceeding_sentence_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(representation__in=Representation.values), name="proceeding_representation_valid"
            ),
            models.CheckConstraint(
                condition=Q(verdict="pending") | Q(verdict_on__isnull=False),
                name="proceeding_verdict_has_date",
                violation_error_message=_("A verdict needs its date."),
            ),
            models.CheckConstraint(
                condition=Q(sentence_kind="") | Q(verdict="convicted"),
                name="proceeding_sentence_only_if_convicted",
                violation_error_message=_("Only a conviction carries a sentence."),
            ),
            models.CheckConstraint(
                condition=Q(actual_release_on__isnull=True) | Q(detained_since__isnull=False),
                name="proceeding_release_after_custody",
                violation_error_message=_("A release needs the first day in custody."),
            ),
            models.CheckConstraint(
                condition=Q(actual_release_on__isnull=True) | Q(actual_release_on__gte=F("detained_since")),
                name="proceeding_released_after_detained",
                violation_error_message=_("The release cannot be before the first day in custody."),
            ),
            models.CheckConstraint(
                condition=Q(expected_release_on__isnull=True)
                | Q(sentence_start__isnull=True)
                | Q(expected_release_on__gte=F("sentence_start")),
                name="proceeding_expected_release_after_start",
                violation_error_message=_("The expected release cannot be before the sentence starts."),
            ),
            models.CheckConstraint(
                condition=Q(travel_ban=True) | Q(travel_ban_until__isnull=True),
                name="proceeding_travel_ban_end_only_with_ban",
                violation_error_message=_("An end date is given only for a travel ban."),
            ),
        ]

    def __str__(self) -> str:
        return f"Legal proceeding #{self.pk} of case {self.case_id}"

    @property
    def in_custody(self) -> bool:
        return self.detained_since is not None and self.actual_release_on is None

    def clean(self) -> None:
        super().clean()
        # One day of slack: the programme's calendar may run ahead of the server's.
        latest = timezone.localdate() + datetime.timedelta(days=1)
        for name in ("detained_since", "actual_release_on"):
            if getattr(self, name) and getattr(self, name) > latest:
                raise ValidationError({name: _("This day is in the future; record what has happened.")})
        if self.verdict_on and self.opened_on and self.verdict_on < self.opened_on:
            raise ValidationError({"verdict_on": _("The verdict cannot be before the proceedings were opened.")})
        if self.sentence_kind and not self.sentence_start and self.sentence_kind == SentenceKind.IMPRISONMENT:
            raise ValidationError({"sentence_start": _("A prison sentence needs its start date.")})


class HearingOutcome(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    HELD = "held", _("Held")
    ADJOURNED = "adjourned", _("Adjourned")
    VERDICT = "verdict", _("Verdict given")


class CourtHearing(models.Model):
    """One hearing of a proceeding: its day, its court and what came of it."""

    Outcome = HearingOutcome

    proceeding = models.ForeignKey(
        LegalProceeding, on_delete=models.CASCADE, related_name="hearings", verbose_name=_("proceeding")
    )
    held_on = models.DateField(_("date"))
    court = models.CharField(_("court"), max_length=200, validators=[validate_printable_text])
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=HearingOutcome.choices, default=HearingOutcome.SCHEDULED
    )
    notes = EncryptedTextField(
        _("notes"), blank=True, help_text=_("Sensitive: never shown to partner agencies nor written into e-mails.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("court hearing")
        verbose_name_plural = _("court hearings")
        ordering = ["held_on", "id"]
        indexes = [models.Index(fields=["held_on"], name="hearing_held_on_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=HearingOutcome.values), name="hearing_outcome_valid"),
        ]

    def __str__(self) -> str:
        return f"Hearing on {self.held_on}"
