"""Programmes, their stage catalogues, enrolments, stage records, stage details and follow-ups.

A case enrolled in a programme gets a stage plan: one ``StageRecord`` per
stage type of the programme's catalogue that applies to the person. Each stage
keeps the structured facts of its kind in a detail model (``AccommodationStay``,
``PsychologicalSession``, ``SchoolPlacement``, ``DocumentRequest``,
``HousingPlacement``, ``EmploymentPlacement``) so that reports can count them
in SQL.
"""

from __future__ import annotations

import datetime

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from encrypted_model_fields.fields import EncryptedCharField

from casework.models import ConsentPurpose, Relationship, validate_printable_text
from core import roles


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value}) from None


class Programme(models.Model):
    """A rehabilitation programme of one country or authority."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200, validators=[validate_printable_text])
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code."))
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        validators=[validate_time_zone],
        help_text=_("e.g. Asia/Almaty; reminders follow its calendar."),
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProgrammeMembership", related_name="programmes", verbose_name=_("staff")
    )
    is_active = models.BooleanField(_("is active"), default=True)
    report_frequency = models.CharField(
        _("report frequency"),
        max_length=10,
        choices=[("weekly", _("Weekly")), ("monthly", _("Monthly"))],
        default="weekly",
        help_text=_("How often supervisors receive the stage report."),
    )
    retention_days = models.PositiveIntegerField(
        _("retention after closure (days)"),
        default=5 * 365,
        validators=[MinValueValidator(30)],
        help_text=_(
            "How long personal data is kept after a case of this programme is closed; then it is "
            "anonymised, keeping only what the statistics need."
        ),
    )

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_today(self, now=None):
        """The programme's calendar day at ``now`` (default: now); read it through
        ``programmes.rules.programme_today``, which also compares rows across programmes."""
        return timezone.localtime(now, timezone=self.zone).date()


class ProgrammeMembershipRole(models.TextChoices):
    CASEWORKER = roles.CASEWORKER, _("Caseworker")
    SUPERVISOR = roles.SUPERVISOR, _("Supervisor")
    LEGAL_OFFICER = roles.LEGAL_OFFICER, _("Legal officer")


class ProgrammeMembership(models.Model):
    """A user's role in a programme: caseworker, supervisor or legal officer."""

    Role = ProgrammeMembershipRole

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("programme")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="programme_memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    receives_reports = models.BooleanField(
        _("receives reports"),
        default=True,
        help_text=_("Supervisors only: receive the programme's stage reports by e-mail."),
    )

    class Meta:
        verbose_name = _("programme membership")
        verbose_name_plural = _("programme memberships")
        ordering = ["programme", "role", "user"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "user", "role"], name="programme_membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=ProgrammeMembershipRole.values), name="programme_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.programme}"


class StageKind(models.TextChoices):
    """What a stage is about; decides which detail records it carries."""

    ACCOMMODATION = "accommodation", _("Supervised accommodation")
    PSYCHOLOGICAL = "psychological", _("Psychological care")
    SCHOOLING = "schooling", _("Schooling")
    DOCUMENTS = "documents", _("Civil documents")
    HOUSING = "housing", _("Housing and family reunification")
    EMPLOYMENT = "employment", _("Training and employment")
    OTHER = "other", _("Other")


# What a referral for each purpose covers when a catalogue says nothing else: the
# standard catalogue (fixtures/stage_catalogue.json) lists the same, stage type by
# stage type. "All rehabilitation services" covers every kind.
DEFAULT_REFERRAL_PURPOSES = {
    StageKind.ACCOMMODATION: (ConsentPurpose.GENERAL,),
    StageKind.PSYCHOLOGICAL: (ConsentPurpose.GENERAL, ConsentPurpose.PSYCHOSOCIAL, ConsentPurpose.HEALTH),
    StageKind.SCHOOLING: (ConsentPurpose.GENERAL, ConsentPurpose.SCHOOLING),
    StageKind.DOCUMENTS: (ConsentPurpose.GENERAL, ConsentPurpose.DOCUMENTS),
    StageKind.HOUSING: (ConsentPurpose.GENERAL, ConsentPurpose.HOUSING),
    StageKind.EMPLOYMENT: (ConsentPurpose.GENERAL, ConsentPurpose.EMPLOYMENT),
    StageKind.OTHER: (ConsentPurpose.GENERAL,),
}


def _validate_list_of(value, allowed, *, shape: str, unknown: str, unknown_param: str, repeated: str) -> None:
    """A JSON list of distinct strings, each one of ``allowed``."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(shape)
    strangers = sorted(set(value) - set(allowed))
    if strangers:
        raise ValidationError(unknown, params={unknown_param: ", ".join(strangers)})
    if len(set(value)) != len(value):
        raise ValidationError(repeated)


def validate_referral_purposes(value) -> None:
    _validate_list_of(
        value,
        ConsentPurpose.values,
        shape=_('List the referral purposes, e.g. ["general", "schooling"].'),
        unknown=_("Unknown referral purpose: %(purposes)s."),
        unknown_param="purposes",
        repeated=_("Each referral purpose is listed once."),
    )


def validate_required_documents(value) -> None:
    _validate_list_of(
        value,
        DocumentType.values,
        shape=_('List the document types, e.g. ["passport", "birth_certificate"].'),
        unknown=_("Unknown document type: %(types)s."),
        unknown_param="types",
        repeated=_("Each document type is listed once."),
    )


class AppliesTo(models.TextChoices):
    EVERYONE = "everyone", _("Everyone")
    ADULTS = "adults", _("Adults only (18 and over)")
    CHILDREN = "children", _("Children only (under 18)")


class StageTrack(models.TextChoices):
    """Which plan a stage type belongs to. Enrolment plans the standard track; the justice
    track adds the detention plan when custody begins and the community plan on release."""

    STANDARD = "standard", _("Standard plan")
    DETENTION = "detention", _("In detention")
    COMMUNITY = "community", _("After release")


#: The languages a stage type's name is translated into (``StageType.name_<code>``).
TRANSLATED_NAME_LANGUAGES = ("ru", "kk", "ar")


class StageType(models.Model):
    """One stage of a programme's catalogue."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="stage_types", verbose_name=_("programme")
    )
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200, validators=[validate_printable_text])
    name_ru = models.CharField(_("name in Russian"), max_length=200, blank=True, validators=[validate_printable_text])
    name_kk = models.CharField(_("name in Kazakh"), max_length=200, blank=True, validators=[validate_printable_text])
    name_ar = models.CharField(_("name in Arabic"), max_length=200, blank=True, validators=[validate_printable_text])
    kind = models.CharField(_("kind"), max_length=20, choices=StageKind.choices)
    position = models.PositiveSmallIntegerField(_("position"), default=0, help_text=_("Order in the stage plan."))
    start_offset_days = models.PositiveSmallIntegerField(
        _("start offset days"), default=0, help_text=_("Days after arrival that the stage is planned to start.")
    )
    default_duration_days = models.PositiveSmallIntegerField(
        _("default duration days"),
        validators=[MinValueValidator(1)],
        help_text=_("Days from the planned start to the due date."),
    )
    follow_up_interval_days = models.PositiveSmallIntegerField(
        _("follow-up interval days"),
        null=True,
        blank=True,
        help_text=_("Days between follow-ups while the stage is active; empty for none."),
    )
    remind_days_before = models.PositiveSmallIntegerField(
        _("remind days before"), default=2, help_text=_("Days before a due date that the assignee is reminded.")
    )
    escalate_after_days = models.PositiveSmallIntegerField(
        _("escalate after days"),
        default=7,
        help_text=_("Days overdue after which the programme's supervisors are told."),
    )
    applies_to = models.CharField(_("applies to"), max_length=10, choices=AppliesTo.choices, default=AppliesTo.EVERYONE)
    track = models.CharField(
        _("track"),
        max_length=10,
        choices=StageTrack.choices,
        default=StageTrack.STANDARD,
        help_text=_("Standard stages are planned at enrolment; the others when custody begins or on release."),
    )
    min_age_years = models.PositiveSmallIntegerField(
        _("min age years"), null=True, blank=True, help_text=_("Inclusive, at arrival.")
    )
    max_age_years = models.PositiveSmallIntegerField(
        _("max age years"), null=True, blank=True, help_text=_("Inclusive, at arrival.")
    )
    is_active = models.BooleanField(_("is active"), default=True)
    referral_purposes = models.JSONField(
        _("referral purposes"),
        default=list,
        blank=True,
        validators=[validate_referral_purposes],
        help_text=_(
            "The referral purposes that cover this stage: a partner agency referred for one of them "
            "sees and works on this stage, once it has accepted the referral. Empty: no partner does."
        ),
    )
    required_documents = models.JSONField(
        _("required documents"),
        default=list,
        blank=True,
        validators=[validate_required_documents],
        help_text=_(
            "Documents stages: the documents whose issue completes the stage, e.g. "
            '["passport", "birth_certificate"]. Empty: the stage is completed by hand.'
        ),
    )

    class Meta:
        verbose_name = _("stage type")
        verbose_name_plural = _("stage types")
        ordering = ["programme", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="stage_type_code_unique"),
            models.CheckConstraint(condition=Q(kind__in=StageKind.values), name="stage_type_kind_valid"),
            models.CheckConstraint(condition=Q(applies_to__in=AppliesTo.values), name="stage_type_applies_to_valid"),
            models.CheckConstraint(condition=Q(track__in=StageTrack.values), name="stage_type_track_valid"),
            models.CheckConstraint(condition=Q(default_duration_days__gte=1), name="stage_type_duration_positive"),
            models.CheckConstraint(
                condition=Q(follow_up_interval_days__isnull=True) | Q(follow_up_interval_days__gte=1),
                name="stage_type_interval_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_age_years__isnull=True)
                | Q(max_age_years__isnull=True)
                | Q(max_age_years__gte=F("min_age_years")),
                name="stage_type_age_band_ordered",
                violation_error_message=_("The maximum age must not be below the minimum age."),
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The name in the active language (``name_<language>``), else the catalogue's name."""
        language = (translation.get_language() or "").split("-")[0]
        if language in TRANSLATED_NAME_LANGUAGES:
            return getattr(self, f"name_{language}") or self.name
        return self.name

    def applies_to_age(self, age: int) -> bool:
        from casework.models import ADULT_AGE

        if self.applies_to == AppliesTo.ADULTS and age < ADULT_AGE:
            return False
        if self.applies_to == AppliesTo.CHILDREN and age >= ADULT_AGE:
            return False
        if self.min_age_years is not None and age < self.min_age_years:
            return False
        if self.max_age_years is not None and age > self.max_age_years:
            return False
        return True


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    #: Handed over to another programme (``lifecycle.transfer``): the case is the receiving
    #: programme's now, and this enrolment gives the sending programme's staff no access.
    TRANSFERRED = "transferred", _("Transferred to another programme")


class Enrolment(models.Model):
    Status = EnrolmentStatus

    case = models.ForeignKey(
        "casework.Case", on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("case")
    )
    programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="enrolments", verbose_name=_("programme")
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.ACTIVE)
    enrolled_on = models.DateField(_("enrolled on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("enrolled by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-enrolled_on", "id"]
        indexes = [
            models.Index(fields=["programme", "status"], name="enrolment_programme_status_idx"),
            # The default ordering of enrolments, and of stages (by their enrolment, then
            # the plan's order): a page walks this index and the stages of each enrolment.
            models.Index(fields=["-enrolled_on", "id"], name="enrolment_order_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "programme"],
                condition=Q(status="active"),
                name="enrolment_one_active_per_case_programme",
                violation_error_message=_("This case already has an active enrolment in this programme."),
            ),
            models.CheckConstraint(condition=Q(status__in=EnrolmentStatus.values), name="enrolment_status_valid"),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("enrolled_on")),
                name="enrolment_ended_after_enrolled",
                violation_error_message=_("An enrolment cannot end before it began."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} in {self.programme}"


class StageStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    DISCONTINUED = "discontinued", _("Discontinued")
    BLOCKED = "blocked", _("Blocked")


# Stages that still have work ahead of them (and so deadlines).
OPEN_STAGE_STATUSES = (StageStatus.PLANNED, StageStatus.ACTIVE, StageStatus.BLOCKED)


class StageRecord(models.Model):
    """One stage of one person's plan."""

    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="stages", verbose_name=_("enrolment")
    )
    stage_type = models.ForeignKey(
        StageType, on_delete=models.PROTECT, related_name="stage_records", verbose_name=_("stage type")
    )
    status = models.CharField(_("status"), max_length=15, choices=StageStatus.choices, default=StageStatus.PLANNED)
    planned_start = models.DateField(_("planned start"))
    due_date = models.DateField(_("due date"))
    started_on = models.DateField(_("started on"), null=True, blank=True)
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    responsible_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="responsible_stages",
        verbose_name=_("responsible user"),
    )
    responsible_agency = models.ForeignKey(
        "casework.Agency",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="responsible_stages",
        verbose_name=_("responsible agency"),
    )
    outcome = models.TextField(_("outcome"), blank=True)
    status_reason = models.CharField(
        _("status reason"), max_length=300, blank=True, help_text=_("Why it is blocked or discontinued.")
    )
    version = models.PositiveIntegerField(
        _("version"), default=1, help_text=_("Bumped on every change; guards concurrent edits.")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stage record")
        verbose_name_plural = _("stage records")
        ordering = ["enrolment", "stage_type__position", "id"]
        indexes = [
            # Deadline sweeps and "overdue" filters: open stages by due date.
            models.Index(
                fields=["due_date"],
                condition=Q(status__in=["planned", "active", "blocked"]),
                name="stage_open_due_idx",
            ),
            models.Index(fields=["stage_type", "status"], name="stage_type_status_idx"),
            models.Index(fields=["updated_at"], name="stage_updated_idx"),
            # Stage report: the few stages started, or completed, in a period, without a
            # pass over all of them.
            models.Index(fields=["started_on"], condition=Q(started_on__isnull=False), name="stage_started_idx"),
            models.Index(fields=["completed_on"], condition=Q(status="completed"), name="stage_completed_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment", "stage_type"],
                name="stage_one_per_type_per_enrolment",
                violation_error_message=_("This enrolment already has a stage of this type."),
            ),
            models.CheckConstraint(condition=Q(status__in=StageStatus.values), name="stage_status_valid"),
            models.CheckConstraint(
                condition=Q(due_date__gte=F("planned_start")),
                name="stage_due_not_before_start",
                violation_error_message=_("The due date cannot be before the planned start."),
            ),
            models.CheckConstraint(
                condition=Q(completed_on__isnull=True)
                | (Q(started_on__isnull=False) & Q(completed_on__gte=F("started_on"))),
                name="stage_completed_after_started",
                violation_error_message=_("A stage cannot be completed before it started."),
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_on__isnull=False),
                name="stage_completed_has_date",
                violation_error_message=_("A completed stage needs its completion date."),
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(started_on__isnull=False),
                name="stage_active_has_start",
                violation_error_message=_("An active stage needs its start date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stage_type} ({self.get_status_display()})"

    def is_overdue(self, today) -> bool:
        """Open and due before ``today``: the stage's own part of the rule. The whole rule
        (its enrolment active too, on its programme's today) is ``programmes.rules``."""
        return self.status in OPEN_STAGE_STATUSES and self.due_date < today


# --- Stage details ---------------------------------------------------------------


class AccommodationStay(models.Model):
    """A stay in a rehabilitation (adaptation) centre."""

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="accommodation_stays", verbose_name=_("stage")
    )
    centre = models.CharField(_("centre"), max_length=200)
    arrived_on = models.DateField(_("arrived on"))
    exited_on = models.DateField(_("exited on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("accommodation stay")
        verbose_name_plural = _("accommodation stays")
        ordering = ["stage", "arrived_on"]
        indexes = [
            # Report: people still in the centre (no exit yet).
            models.Index(fields=["arrived_on"], condition=Q(exited_on__isnull=True), name="stay_in_centre_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(exited_on__isnull=True) | Q(exited_on__gte=F("arrived_on")),
                name="stay_exit_after_arrival",
                violation_error_message=_("The exit date cannot be before the arrival date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.centre} from {self.arrived_on}"


class PsychologicalSessionKind(models.TextChoices):
    SESSION = "session", _("Session")
    ASSESSMENT = "assessment", _("Assessment")


class PsychologicalSessionMode(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    GROUP = "group", _("Group")
    FAMILY = "family", _("Family")


class PsychologicalSession(models.Model):
    """A session or an assessment with a standard instrument."""

    Kind = PsychologicalSessionKind
    Mode = PsychologicalSessionMode

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="psychological_sessions", verbose_name=_("stage")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.SESSION)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.INDIVIDUAL)
    held_on = models.DateField(_("held on"))
    practitioner = models.CharField(_("practitioner"), max_length=200, blank=True)
    instrument = models.CharField(
        _("instrument"),
        max_length=50,
        blank=True,
        help_text=_("For assessments: the instrument, e.g. SDQ, CRIES-8, PHQ-9."),
    )
    score = models.DecimalField(_("score"), max_digits=6, decimal_places=2, null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("psychological session")
        verbose_name_plural = _("psychological sessions")
        ordering = ["stage", "held_on"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=PsychologicalSessionKind.values), name="psych_kind_valid"),
            models.CheckConstraint(condition=Q(mode__in=PsychologicalSessionMode.values), name="psych_mode_valid"),
            models.CheckConstraint(
                condition=~Q(kind="assessment") | (~Q(instrument="") & Q(score__isnull=False)),
                name="psych_assessment_has_instrument_and_score",
                violation_error_message=_("An assessment needs its instrument and score."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.held_on}"


class SchoolLevel(models.TextChoices):
    KINDERGARTEN = "kindergarten", _("Kindergarten")
    PRESCHOOL = "preschool", _("Preschool")
    SCHOOL = "school", _("School")


class SchoolPlacement(models.Model):
    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="school_placements", verbose_name=_("stage")
    )
    institution = models.CharField(_("institution"), max_length=200)
    level = models.CharField(_("level"), max_length=15, choices=SchoolLevel.choices)
    grade = models.PositiveSmallIntegerField(
        _("grade"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    language_support = models.BooleanField(
        _("language support"), default=False, help_text=_("Receives help with the teaching language.")
    )
    enrolled_on = models.DateField(_("enrolled on"))
    left_on = models.DateField(_("left on"), null=True, blank=True)
    left_reason = models.CharField(
        _("reason for leaving"),
        max_length=300,
        blank=True,
        help_text=_("Why the child left the school; no sensitive details."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("school placement")
        verbose_name_plural = _("school placements")
        ordering = ["stage", "enrolled_on"]
        indexes = [
            # Report: children currently at a school (no leaving date).
            models.Index(fields=["stage"], condition=Q(left_on__isnull=True), name="school_current_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=SchoolLevel.values), name="school_level_valid"),
            models.CheckConstraint(
                condition=Q(grade__isnull=True) | (Q(level="school") & Q(grade__gte=1) & Q(grade__lte=12)),
                name="school_grade_only_at_school",
                violation_error_message=_("A grade (1 to 12) is recorded only for school."),
            ),
            models.CheckConstraint(
                condition=Q(left_on__isnull=True) | Q(left_on__gte=F("enrolled_on")),
                name="school_left_after_enrolled",
                violation_error_message=_("The leaving date cannot be before the enrolment date."),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.left_on is not None and not (self.left_reason or "").strip():
            raise ValidationError({"left_reason": _("Say why the child left the school.")})

    def __str__(self) -> str:
        return f"{self.institution} ({self.get_level_display()})"


class DocumentType(models.TextChoices):
    BIRTH_CERTIFICATE = "birth_certificate", _("Birth certificate")
    PASSPORT = "passport", _("Passport")
    NATIONAL_ID = "national_id", _("National identity card")
    RESIDENCE_REGISTRATION = "residence_registration", _("Residence registration")
    OTHER = "other", _("Other")


class DocumentRequestStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    SUBMITTED = "submitted", _("Submitted to the registry")
    ISSUED = "issued", _("Issued")
    REFUSED = "refused", _("Refused")


class DocumentRequest(models.Model):
    """One civil document requested for a person."""

    Status = DocumentRequestStatus

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="document_requests", verbose_name=_("stage")
    )
    document_type = models.CharField(_("document type"), max_length=25, choices=DocumentType.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_on = models.DateField(_("requested on"))
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    number = EncryptedCharField(
        _("number"),
        max_length=100,
        blank=True,
        help_text=_("Sensitive, stored encrypted: shown only to staff who need it."),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("document request")
        verbose_name_plural = _("document requests")
        ordering = ["stage", "requested_on"]
        indexes = [
            # Report: people without an issued passport / birth certificate.
            models.Index(fields=["document_type", "status"], name="document_type_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(document_type__in=DocumentType.values), name="document_type_valid"),
            models.CheckConstraint(condition=Q(status__in=DocumentRequestStatus.values), name="document_status_valid"),
            models.UniqueConstraint(
                fields=["stage", "document_type"],
                condition=~Q(status="refused"),
                name="document_one_open_request_per_type",
                violation_error_message=_("This document has already been requested for this stage."),
            ),
            models.CheckConstraint(
                condition=~Q(status="issued") | Q(issued_on__isnull=False),
                name="document_issued_has_date",
                violation_error_message=_("An issued document needs its issue date."),
            ),
            models.CheckConstraint(
                condition=Q(issued_on__isnull=True) | Q(issued_on__gte=F("requested_on")),
                name="document_issued_after_requested",
                violation_error_message=_("A document cannot be issued before it was requested."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_document_type_display()} — {self.get_status_display()}"


class HousingPlacementLivingWith(models.TextChoices):
    RELATIVES = "relatives", _("Relatives")
    FRIENDS = "friends", _("Friends")
    OWN_HOME = "own_home", _("Own home")
    STATE_HOUSING = "state_housing", _("State or social housing")
    OTHER = "other", _("Other")


class HousingPlacementReunification(models.TextChoices):
    PENDING = "pending", _("Contact with relatives in progress")
    REUNITED = "reunited", _("Reunited with relatives")
    PARTIAL = "partial", _("Some relatives in contact")
    REFUSED = "refused", _("Relatives refused contact")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


class HousingPlacement(models.Model):
    LivingWith = HousingPlacementLivingWith
    Reunification = HousingPlacementReunification

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="housing_placements", verbose_name=_("stage")
    )
    address = models.TextField(_("address"), help_text=_("Sensitive: shown only to staff who need it."))
    settlement = models.CharField(
        _("settlement"), max_length=200, blank=True, help_text=_("Town or district, for statistics.")
    )
    living_with = models.CharField(_("living with"), max_length=15, choices=LivingWith.choices)
    reunification = models.CharField(
        _("reunification"), max_length=15, choices=Reunification.choices, default=Reunification.PENDING
    )
    moved_in_on = models.DateField(_("moved in on"))
    moved_out_on = models.DateField(_("moved out on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("housing placement")
        verbose_name_plural = _("housing placements")
        ordering = ["stage", "moved_in_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(living_with__in=HousingPlacementLivingWith.values), name="housing_living_with_valid"
            ),
            models.CheckConstraint(
                condition=Q(reunification__in=HousingPlacementReunification.values), name="housing_reunification_valid"
            ),
            models.CheckConstraint(
                condition=Q(moved_out_on__isnull=True) | Q(moved_out_on__gte=F("moved_in_on")),
                name="housing_moved_out_after_in",
                violation_error_message=_("The move-out date cannot be before the move-in date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_living_with_display()} from {self.moved_in_on}"


class TracingMethod(models.TextChoices):
    PHONE = "phone", _("Phone")
    VISIT = "visit", _("Visit")
    LETTER = "letter", _("Letter")
    RED_CROSS = "red_cross", _("Through the Red Cross")
    OTHER = "other", _("Other")


class TracingOutcome(models.TextChoices):
    PENDING = "pending", _("Pending")
    AGREES = "agrees", _("Agrees to contact")
    REFUSES = "refuses", _("Refuses contact")
    UNREACHABLE = "unreachable", _("Unreachable")


class RelativeContact(models.Model):
    """Family tracing and reunification: one relative approached for a returnee, how and
    when, and what they answered. Recorded on the housing stage (its detail), one row per
    relative, updated as the answer changes. The relatives refusing contact are counted
    from these rows (the housing API's ``relatives_refusing_contact``, the stage report)."""

    Method = TracingMethod
    Outcome = TracingOutcome

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="relative_contacts", verbose_name=_("stage")
    )
    relative_name = EncryptedCharField(
        _("relative's name"),
        max_length=200,
        validators=[validate_printable_text],
        help_text=_("Sensitive, stored encrypted."),
    )
    relationship = models.CharField(
        _("relationship"), max_length=20, choices=Relationship.choices, help_text=_("Relationship to the returnee.")
    )
    method = models.CharField(_("how contacted"), max_length=15, choices=Method.choices)
    contacted_on = models.DateField(_("contacted on"))
    outcome = models.CharField(_("outcome"), max_length=15, choices=Outcome.choices, default=Outcome.PENDING)
    reason = models.CharField(
        _("reason"), max_length=300, blank=True, help_text=_("Why, as the relative gave it; no sensitive details.")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("relative contacted")
        verbose_name_plural = _("relatives contacted")
        ordering = ["stage", "contacted_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(method__in=TracingMethod.values), name="relative_contact_method_valid"),
            models.CheckConstraint(
                condition=Q(outcome__in=TracingOutcome.values), name="relative_contact_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(relationship__in=Relationship.values), name="relative_contact_relationship_valid"
            ),
            models.CheckConstraint(
                condition=~Q(outcome="refuses") | ~Q(reason=""),
                name="relative_contact_refusal_has_reason",
                violation_error_message=_("Say why the relative refuses contact."),
            ),
        ]
        indexes = [
            # Report: relatives refusing contact, families not yet reunified.
            models.Index(fields=["outcome"], name="relative_contact_outcome_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_relationship_display()} — {self.get_outcome_display()}"


class EmploymentPlacementKind(models.TextChoices):
    TRAINING = "training", _("Training or course")
    JOB = "job", _("Job")


class EmploymentPlacementOutcome(models.TextChoices):
    ONGOING = "ongoing", _("Ongoing")
    COMPLETED = "completed", _("Completed")
    EMPLOYED = "employed", _("Led to employment")
    DROPPED_OUT = "dropped_out", _("Dropped out")


class EmploymentPlacement(models.Model):
    Kind = EmploymentPlacementKind
    Outcome = EmploymentPlacementOutcome

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="employment_placements", verbose_name=_("stage")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    organisation = models.CharField(_("organisation"), max_length=200, help_text=_("Training provider or employer."))
    started_on = models.DateField(_("started on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=15, choices=Outcome.choices, default=Outcome.ONGOING)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("employment placement")
        verbose_name_plural = _("employment placements")
        ordering = ["stage", "started_on"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=EmploymentPlacementKind.values), name="employment_kind_valid"),
            models.CheckConstraint(
                condition=Q(outcome__in=EmploymentPlacementOutcome.values), name="employment_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="employment_ended_after_started",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.organisation}"


# --- Follow-ups ------------------------------------------------------------------


class FollowUpKind(models.TextChoices):
    VISIT = "visit", _("Home visit")
    CALL = "call", _("Phone call")
    SESSION = "session", _("Session")
    SCHOOL_CHECK = "school_check", _("School check")
    DOCUMENT_APPOINTMENT = "document_appointment", _("Document appointment")


class FollowUp(models.Model):
    """A scheduled visit, call or session on a stage."""

    Kind = FollowUpKind

    stage = models.ForeignKey(StageRecord, on_delete=models.CASCADE, related_name="follow_ups", verbose_name=_("stage"))
    kind = models.CharField(_("kind"), max_length=25, choices=Kind.choices)
    due_date = models.DateField(_("due date"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="follow_ups",
        verbose_name=_("assignee"),
    )
    done_on = models.DateField(_("done on"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    cancelled_on = models.DateField(
        _("cancelled on"), null=True, blank=True, help_text=_("Set when the stage ended before this follow-up was due.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_date", "id"]
        indexes = [
            # Reminder sweep and "overdue" filters: open follow-ups by due date.
            models.Index(
                fields=["due_date"],
                condition=Q(done_on__isnull=True, cancelled_on__isnull=True),
                name="follow_up_open_due_idx",
            ),
            models.Index(fields=["assignee", "due_date"], name="follow_up_assignee_due_idx"),
            # The lists' default ordering: a page is read from the index, not sorted.
            models.Index(fields=["due_date", "id"], name="follow_up_order_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=FollowUpKind.values), name="follow_up_kind_valid"),
            models.CheckConstraint(
                condition=Q(done_on__isnull=True) | ~Q(outcome=""),
                name="follow_up_done_has_outcome",
                violation_error_message=_("Record the outcome of a follow-up that is done."),
            ),
            models.CheckConstraint(
                condition=Q(done_on__isnull=True) | Q(cancelled_on__isnull=True),
                name="follow_up_done_or_cancelled",
                violation_error_message=_("A follow-up is either done or cancelled, not both."),
            ),
        ]

    @property
    def is_open(self) -> bool:
        return self.done_on is None and self.cancelled_on is None

    def clean(self) -> None:
        super().clean()
        if self.done_on and self.done_on > timezone.localdate() + datetime.timedelta(days=1):
            # One day of slack: the programme's calendar may run ahead of the server's.
            raise ValidationError({"done_on": _("A follow-up cannot be done in the future.")})
        if self.done_on and not (self.outcome or "").strip():
            raise ValidationError({"outcome": _("Record the outcome of a follow-up that is done.")})

    def __str__(self) -> str:
        return f"{self.get_kind_display()} due {self.due_date}"


class StageTransition(models.Model):
    """One status change of a stage: who, when, from what to what, and why."""

    stage = models.ForeignKey(
        StageRecord, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("stage")
    )
    action = models.CharField(_("action"), max_length=20)
    from_status = models.CharField(_("from status"), max_length=15, choices=StageStatus.choices)
    to_status = models.CharField(_("to status"), max_length=15, choices=StageStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    note = models.TextField(_("note"), blank=True, help_text=_("Outcome or reason given with the change."))

    class Meta:
        verbose_name = _("stage transition")
        verbose_name_plural = _("stage transitions")
        ordering = ["stage", "at", "id"]
        indexes = [models.Index(fields=["stage", "at"], name="stage_transition_stage_at_idx")]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} → {self.to_status}"


class ReportPeriodKind(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class StageReport(models.Model):
    """A stage report as it was computed and sent: the numbers and the rendered e-mail, kept for audit."""

    programme = models.ForeignKey(
        Programme, on_delete=models.PROTECT, related_name="stage_reports", verbose_name=_("programme")
    )
    period = models.CharField(_("period"), max_length=10, help_text=_("e.g. 2026-W47 or 2026-11"))
    period_kind = models.CharField(_("period kind"), max_length=10, choices=ReportPeriodKind.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    numbers = models.JSONField(_("numbers"))
    subject = models.CharField(_("subject"), max_length=200)
    text = models.TextField(_("text"))
    html = models.TextField(_("html"))
    csv = models.TextField(_("csv"))
    chart_png = models.BinaryField(_("chart png"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("stage report")
        verbose_name_plural = _("stage reports")
        ordering = ["-period_start", "programme"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "period"], name="stage_report_once_per_period"),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="stage_report_period_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.programme.code} {self.period}"
