"""People, families, repatriation operations, cases, notes, consent, agencies and referrals.

Names are recorded in every script and spelling a person is known by
(``PersonName``); former names and aliases are kinds of name that only some
roles may see, since new documents are issued precisely to leave them behind.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from encrypted_model_fields.fields import EncryptedCharField, EncryptedTextField

from casework.names import name_key

ADULT_AGE = 18


def age_on(date_of_birth: datetime.date, day: datetime.date) -> int:
    """Full years between a birth date and a day."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def years_before(day: datetime.date, years: int) -> datetime.date:
    """The same calendar day ``years`` earlier (28 February for a 29 February): people born
    after it are younger than ``years`` on ``day``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# Control characters (Cc: newlines, tabs, escape), format characters (Cf: bidi overrides
# and marks, zero-width spaces, the byte-order mark), line and paragraph separators, and
# lone surrogates (Cs) never belong in a name or a reference: they hide or reorder what a
# caseworker reads, split lines in logs and exports, and defeat matching. Two format
# characters are letters' business, though: ZWNJ and ZWJ shape Persian, Arabic and
# Indic spellings, so they stay.
REFUSED_CHARACTER_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
SHAPING_JOINERS = frozenset({"\u200c", "\u200d"})  # ZERO WIDTH NON-JOINER, ZERO WIDTH JOINER
#: A phone number as typed: digits, spaces and + ( ) . / -.
PHONE_PATTERN = re.compile(r"\+?[0-9 ()./-]{4,40}")


def validate_printable_text(value: str) -> None:
    """Refuse control and invisible formatting characters in a name, label or reference.

    A model-field validator, so the admin forms, the API's model validation and
    ``full_clean()`` in services all apply it. The message never quotes the value.
    """
    for character in str(value):
        if unicodedata.category(character) in REFUSED_CHARACTER_CATEGORIES and character not in SHAPING_JOINERS:
            raise ValidationError(
                _("Remove the line breaks, tabs and invisible formatting or direction characters."),
                code="control_characters",
            )


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class Script(models.TextChoices):
    LATIN = "latin", _("Latin")
    CYRILLIC = "cyrillic", _("Cyrillic")
    ARABIC = "arabic", _("Arabic")
    OTHER = "other", _("Other")


class NameKind(models.TextChoices):
    PRIMARY = "primary", _("Primary (current legal name)")
    SPELLING = "spelling", _("Other spelling or transliteration")
    FORMER = "former", _("Former name")
    ALIAS = "alias", _("Alias or kunya")


# Kinds of name that only roles with a need may see (never partner agencies).
SENSITIVE_NAME_KINDS = (NameKind.FORMER, NameKind.ALIAS)


class IdentifierKind(models.TextChoices):
    NATIONAL_ID = "national_id", _("National identity number")
    PASSPORT = "passport", _("Passport number")
    BIRTH_CERTIFICATE = "birth_certificate", _("Birth certificate number")
    CAMP_REGISTRATION = "camp_registration", _("Camp registration number")
    OTHER = "other", _("Other")


class RepatriationOperation(models.Model):
    """The transfer that brought a cohort home."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200, validators=[validate_printable_text])
    operation_date = models.DateField(_("operation date"))
    origin_country = models.CharField(
        _("origin country"), max_length=2, help_text=_("ISO 3166-1 alpha-2 code, e.g. SY or IQ.")
    )
    origin_camp = models.CharField(_("origin camp"), max_length=200, blank=True, validators=[validate_printable_text])
    route = models.CharField(_("route"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("repatriation operation")
        verbose_name_plural = _("repatriation operations")
        ordering = ["-operation_date", "code"]

    def __str__(self) -> str:
        return self.name


class AgencyKind(models.TextChoices):
    UN_AGENCY = "un_agency", _("UN agency")
    RED_CROSS = "red_cross", _("Red Cross / Red Crescent")
    SCHOOL = "school", _("School or education authority")
    HEALTH = "health", _("Health or psychological service")
    NGO = "ngo", _("Non-governmental organisation")
    EMPLOYMENT = "employment", _("Employment service")
    CIVIL_REGISTRY = "civil_registry", _("Civil registry")
    OTHER = "other", _("Other")


class Agency(models.Model):
    """A partner agency (UNICEF, the Red Cross, a school, an NGO, an employment service)."""

    Kind = AgencyKind

    # A slug: its own validator already allows nothing but ASCII letters, digits, "-" and "_".
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200, validators=[validate_printable_text])
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="agencies",
        help_text=_("Users who act for this agency."),
        verbose_name=_("members"),
    )
    is_active = models.BooleanField(_("is active"), default=True)

    class Meta:
        verbose_name = _("agency")
        ordering = ["name"]
        verbose_name_plural = _("agencies")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AgencyKind.values), name="agency_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    """A returnee or a member of a receiving family."""

    given_name = models.CharField(_("given name"), max_length=150, validators=[validate_printable_text])
    family_name = models.CharField(_("family name"), max_length=150, blank=True, validators=[validate_printable_text])
    patronymic = models.CharField(_("patronymic"), max_length=150, blank=True, validators=[validate_printable_text])
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices)
    date_of_birth = models.DateField(_("date of birth"))
    date_of_birth_estimated = models.BooleanField(
        _("date of birth estimated"),
        default=False,
        help_text=_("Tick when the date of birth is an estimate (no document)."),
    )
    place_of_birth = models.CharField(
        _("place of birth"), max_length=200, blank=True, validators=[validate_printable_text]
    )
    nationality = models.CharField(_("nationality"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2 code."))
    languages = models.JSONField(
        _("languages"),
        default=list,
        blank=True,
        help_text=_('Languages spoken, as ISO 639-1 codes, e.g. ["kk", "ru", "ar"].'),
    )
    phone = EncryptedCharField(
        _("phone"), max_length=40, blank=True, help_text=_("Sensitive, stored encrypted: for home visits.")
    )
    interpreter_needed = models.BooleanField(
        _("interpreter needed"), default=False, help_text=_("Tick when talking with this person needs an interpreter.")
    )
    interpreter_language = models.CharField(
        _("interpreter's language"),
        max_length=3,
        blank=True,
        help_text=_("ISO 639-1 code of the language the interpreter must speak, e.g. ar."),
    )
    search_key = models.CharField(_("search key"), max_length=500, blank=True, editable=False, db_index=True)
    anonymised_at = models.DateTimeField(
        _("anonymised at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When retention erased this person's personal data."),
    )
    # A duplicate merged into the record kept (lifecycle.merge): a pointer only, its
    # personal data erased; hidden from every list (casework.selectors.person_visible_to).
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="merged_from",
        help_text=_("The record this duplicate was merged into."),
        verbose_name=_("merged into"),
    )
    # Who recorded the person: until the person has a case, the creator sees them
    # (casework.selectors.person_visible_to).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("person")
        ordering = ["family_name", "given_name", "id"]
        verbose_name_plural = _("persons")
        indexes = [
            # Admin and API search by primary name.
            models.Index(Lower("family_name"), Lower("given_name"), name="person_name_lower_idx"),
            # Sync clients ask for what changed since a time.
            models.Index(fields=["updated_at"], name="person_updated_idx"),
            # The lists' default ordering: a page is read from the index, not sorted.
            models.Index(fields=["family_name", "given_name", "id"], name="person_order_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="person_sex_valid"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.given_name, self.patronymic, self.family_name) if part)

    def age_on(self, day: datetime.date) -> int:
        return age_on(self.date_of_birth, day)

    def save(self, *args, **kwargs):
        # The transliterated key that cross-script search matches (see casework.names).
        self.search_key = name_key(self.full_name)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_key"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        if self.date_of_birth and self.date_of_birth > timezone.localdate():
            raise ValidationError({"date_of_birth": _("The date of birth cannot be in the future.")})
        if self.date_of_birth and self.date_of_birth < datetime.date(1900, 1, 1):
            raise ValidationError({"date_of_birth": _("The date of birth is implausibly early.")})
        if self.phone and not PHONE_PATTERN.fullmatch(self.phone):
            raise ValidationError({"phone": _("Give a phone number of digits, spaces and + ( ) - .")})
        if self.interpreter_language and not (
            2 <= len(self.interpreter_language) <= 3 and self.interpreter_language.isalpha()
        ):
            raise ValidationError({"interpreter_language": _("Give an ISO 639 language code, e.g. ar.")})
        if self.interpreter_language and not self.interpreter_needed:
            raise ValidationError({"interpreter_language": _('Tick "interpreter needed" to name a language.')})
        if not isinstance(self.languages, list) or not all(
            isinstance(code, str) and 2 <= len(code) <= 3 and code.isalpha() for code in self.languages
        ):
            raise ValidationError({"languages": _('Give a list of ISO 639 language codes, e.g. ["kk", "ar"].')})


class PersonName(models.Model):
    """One name of a person in one script: spellings, former names and aliases."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="names", verbose_name=_("person"))
    full_name = models.CharField(_("full name"), max_length=300, validators=[validate_printable_text])
    script = models.CharField(_("script"), max_length=10, choices=Script.choices)
    kind = models.CharField(_("kind"), max_length=10, choices=NameKind.choices, default=NameKind.SPELLING)
    search_key = models.CharField(_("search key"), max_length=500, blank=True, editable=False, db_index=True)

    class Meta:
        verbose_name = _("person name")
        verbose_name_plural = _("person names")
        ordering = ["person", "kind", "script", "id"]
        constraints = [
            models.UniqueConstraint(fields=["person", "full_name", "kind"], name="person_name_unique"),
            models.CheckConstraint(condition=Q(script__in=Script.values), name="person_name_script_valid"),
            models.CheckConstraint(condition=Q(kind__in=NameKind.values), name="person_name_kind_valid"),
        ]
        indexes = [models.Index(Lower("full_name"), name="person_name_full_lower_idx")]

    def __str__(self) -> str:
        return self.full_name

    @property
    def is_sensitive(self) -> bool:
        return self.kind in SENSITIVE_NAME_KINDS

    def save(self, *args, **kwargs):
        self.search_key = name_key(self.full_name)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_key"}
        super().save(*args, **kwargs)


def normalise_identifier(value: str) -> str:
    """Identifiers match whatever the spacing and case they were typed with."""
    return "".join(str(value).split()).upper()


def identifier_digest(value: str) -> str:
    """The keyed hash (HMAC-SHA256) that finds an encrypted identifier by exact value.

    Keyed, so that the table alone does not let anyone test guessed numbers.
    """
    key = settings.IDENTIFIER_LOOKUP_KEY.encode()
    return hmac.new(key, normalise_identifier(value).encode(), hashlib.sha256).hexdigest()


class PersonIdentifier(models.Model):
    """An identity document number or registration number: sensitive.

    The value is encrypted at rest (Fernet, ``FIELD_ENCRYPTION_KEY``); searches and
    uniqueness use its keyed hash, since the ciphertext differs on every write.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="identifiers", verbose_name=_("person"))
    kind = models.CharField(_("kind"), max_length=20, choices=IdentifierKind.choices)
    value = EncryptedCharField(_("value"), max_length=100)
    value_digest = models.CharField(_("value digest"), max_length=64, editable=False, default="")
    issuing_country = models.CharField(_("issuing country"), max_length=2, blank=True)

    class Meta:
        verbose_name = _("person identifier")
        verbose_name_plural = _("person identifiers")
        ordering = ["person", "kind"]
        indexes = [
            # Exact search by identifier (admin search box, the API's identifier filter).
            models.Index(fields=["value_digest"], name="person_identifier_digest_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "issuing_country", "value_digest"],
                name="person_identifier_unique",
                violation_error_message=_("This identifier is already recorded."),
            ),
            models.CheckConstraint(condition=Q(kind__in=IdentifierKind.values), name="person_identifier_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.person_id})"

    def clean(self) -> None:
        super().clean()
        # Before the constraint check of full_clean(), which compares digests.
        self.value_digest = identifier_digest(self.value)

    def save(self, *args, **kwargs):
        self.value_digest = identifier_digest(self.value)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "value_digest"}
        super().save(*args, **kwargs)


class Family(models.Model):
    """A household: people who returned together and the relatives who receive them."""

    reference = models.CharField(_("reference"), max_length=40, unique=True, validators=[validate_printable_text])
    label = models.CharField(
        _("label"),
        max_length=200,
        blank=True,
        help_text=_("A short label caseworkers recognise."),
        validators=[validate_printable_text],
    )
    operation = models.ForeignKey(
        RepatriationOperation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="families",
        verbose_name=_("operation"),
    )
    persons = models.ManyToManyField(
        Person, through="FamilyMembership", related_name="families", verbose_name=_("persons")
    )
    # Who recorded the family: until it has a case, the creator sees it
    # (casework.selectors.family_visible_to).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("family")
        ordering = ["reference"]
        verbose_name_plural = _("families")

    def __str__(self) -> str:
        return self.label or self.reference


class Relationship(models.TextChoices):
    HEAD = "head", _("Head of family")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    GRANDCHILD = "grandchild", _("Grandchild")
    PARENT = "parent", _("Parent")
    SIBLING = "sibling", _("Brother or sister")
    GRANDPARENT = "grandparent", _("Grandparent")
    AUNT_UNCLE = "aunt_uncle", _("Aunt or uncle")
    NIECE_NEPHEW = "niece_nephew", _("Niece or nephew")
    OTHER_RELATIVE = "other_relative", _("Other relative")
    GUARDIAN = "guardian", _("Guardian (not related)")


class FamilyMembershipRole(models.TextChoices):
    RETURNEE = "returnee", _("Returnee")
    RECEIVING_RELATIVE = "receiving_relative", _("Receiving relative")


class FamilyMembership(models.Model):
    Role = FamilyMembershipRole

    family = models.ForeignKey(Family, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("family"))
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="family_memberships", verbose_name=_("person")
    )
    relationship = models.CharField(
        _("relationship"),
        max_length=20,
        choices=Relationship.choices,
        help_text=_("Relationship to the head of the family."),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.RETURNEE)

    class Meta:
        verbose_name = _("family membership")
        verbose_name_plural = _("family memberships")
        ordering = ["family", "id"]
        constraints = [
            models.UniqueConstraint(fields=["family", "person"], name="family_membership_unique"),
            models.UniqueConstraint(
                fields=["family"],
                condition=Q(relationship="head"),
                name="family_one_head",
                violation_error_message=_("A family has only one head."),
            ),
            models.CheckConstraint(condition=Q(relationship__in=Relationship.values), name="family_relationship_valid"),
            models.CheckConstraint(condition=Q(role__in=FamilyMembershipRole.values), name="family_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.get_relationship_display()}"


class ReceivingRelative(models.Model):
    """A relative who receives a returning family: name, relationship and where to reach
    them. Name, phone and address are stored encrypted; staff of the family's cases and a
    partner referred for housing see them (``casework.selectors.receiving_relative_visible_to``).
    Written by intake (``lifecycle.intake``) and from the case page."""

    family = models.ForeignKey(
        Family, on_delete=models.CASCADE, related_name="receiving_relatives", verbose_name=_("family")
    )
    name = EncryptedCharField(_("name"), max_length=200, validators=[validate_printable_text])
    relationship = models.CharField(
        _("relationship"),
        max_length=20,
        choices=Relationship.choices,
        default=Relationship.OTHER_RELATIVE,
        help_text=_("Relationship to the head of the family."),
    )
    phone = EncryptedCharField(_("phone"), max_length=40, blank=True)
    address = EncryptedTextField(_("address"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("receiving relative")
        verbose_name_plural = _("receiving relatives")
        ordering = ["family", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(relationship__in=Relationship.values), name="receiving_relative_relationship_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} — {self.get_relationship_display()}"

    def clean(self) -> None:
        super().clean()
        if self.phone and not PHONE_PATTERN.fullmatch(self.phone):
            raise ValidationError({"phone": _("Give a phone number of digits, spaces and + ( ) - .")})
        for line in (self.address or "").splitlines():
            validate_printable_text(line)


class DistinctPersonPair(models.Model):
    """Two people a user has looked at side by side and decided are different people,
    so that the duplicate check at intake does not ask about them again.

    Stored once per pair, the lower id first.
    """

    person_a = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+", verbose_name=_("person a"))
    person_b = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+", verbose_name=_("person b"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)

    class Meta:
        verbose_name = _("distinct person pair")
        verbose_name_plural = _("distinct person pairs")
        ordering = ["person_a", "person_b"]
        constraints = [
            models.UniqueConstraint(fields=["person_a", "person_b"], name="distinct_person_pair_unique"),
            models.CheckConstraint(condition=Q(person_a__lt=F("person_b")), name="distinct_person_pair_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.person_a_id} is not {self.person_b_id}"


class Arrival(Family):
    """The admin's "Register arrivals" page (``backoffice.intake_admin``): a family
    registered with its members, cases and enrolments in one step. No table of its own."""

    class Meta:
        proxy = True
        verbose_name = _("arrival registration")
        verbose_name_plural = _("register arrivals")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class LegalStatus(models.TextChoices):
    NONE = "none", _("No proceedings")
    UNDER_INVESTIGATION = "under_investigation", _("Under investigation")
    CHARGED = "charged", _("Charged")
    CONVICTED = "convicted", _("Convicted")
    SERVING_SENTENCE = "serving_sentence", _("Serving sentence")
    RELEASED = "released", _("Released after sentence")


class Case(models.Model):
    """One returnee's file."""

    reference = models.CharField(
        _("reference"),
        max_length=40,
        unique=True,
        help_text=_("Used in e-mails instead of the name."),
        validators=[validate_printable_text],
    )
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="cases", verbose_name=_("person"))
    family = models.ForeignKey(
        Family, on_delete=models.PROTECT, null=True, blank=True, related_name="cases", verbose_name=_("family")
    )
    operation = models.ForeignKey(
        RepatriationOperation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name=_("operation"),
    )
    caseworker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name=_("caseworker"),
    )
    status = models.CharField(_("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    risk_level = models.CharField(_("risk level"), max_length=10, choices=RiskLevel.choices, default=RiskLevel.MEDIUM)
    legal_status = models.CharField(
        _("legal status"), max_length=20, choices=LegalStatus.choices, default=LegalStatus.NONE
    )
    arrival_date = models.DateField(_("arrival date"), help_text=_("Day the person arrived in the country."))
    opened_on = models.DateField(_("opened on"), default=timezone.localdate)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    archived_at = models.DateTimeField(
        _("archived at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Archived by an administrator: seen by administrators only."),
    )
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("archived by"),
    )
    anonymised_at = models.DateTimeField(
        _("anonymised at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When retention erased the case's personal data."),
    )
    # Kept by the programmes' enrolment writes (``programmes.signals``): set when the case
    # gets an enrolment, cleared when its last one is deleted. Only a shortcut: the staff
    # scope reads it to find, by a small partial index, the cases of a caseworker that are
    # enrolled nowhere, and still checks the enrolments themselves (a case left unmarked
    # costs time, never access).
    enrolled = models.BooleanField(
        _("enrolled in a programme"),
        default=False,
        db_default=False,
        editable=False,
        help_text=_("Whether the case has ever been enrolled and still has an enrolment."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["reference"]
        indexes = [
            models.Index(fields=["caseworker", "status"], name="case_caseworker_status_idx"),
            models.Index(fields=["caseworker"], condition=Q(enrolled=False), name="case_unenrolled_idx"),
            models.Index(fields=["updated_at"], name="case_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=~Q(status="closed"),
                name="case_one_open_per_person",
                violation_error_message=_("This person already has an open case."),
            ),
            models.CheckConstraint(condition=Q(status__in=CaseStatus.values), name="case_status_valid"),
            models.CheckConstraint(condition=Q(risk_level__in=RiskLevel.values), name="case_risk_level_valid"),
            models.CheckConstraint(condition=Q(legal_status__in=LegalStatus.values), name="case_legal_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_on__isnull=False),
                name="case_closed_has_date",
                violation_error_message=_("A closed case needs its closing date."),
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                name="case_closed_after_opened",
                violation_error_message=_("A case cannot be closed before it was opened."),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def clean(self) -> None:
        super().clean()
        if self.arrival_date and self.arrival_date > timezone.localdate():
            raise ValidationError({"arrival_date": _("The arrival date cannot be in the future.")})


class CaseNote(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes", verbose_name=_("case"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_notes", verbose_name=_("author")
    )
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("case note")
        verbose_name_plural = _("case notes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["case", "-created_at"], name="case_note_recent_idx")]

    def __str__(self) -> str:
        return f"Note on {self.case_id} at {self.created_at:%Y-%m-%d}"


class ConsentPurpose(models.TextChoices):
    GENERAL = "general", _("All rehabilitation services")
    SCHOOLING = "schooling", _("Schooling")
    PSYCHOSOCIAL = "psychosocial", _("Psychological and social support")
    HEALTH = "health", _("Health care")
    DOCUMENTS = "documents", _("Civil documents")
    HOUSING = "housing", _("Housing and family reunification")
    EMPLOYMENT = "employment", _("Training and employment")
    # Only a referral for this purpose shows an agency a person's legal proceedings
    # (``justice.selectors``); it needs a consent given for it (``Referral.clean``).
    LEGAL_AID = "legal_aid", _("Legal aid")


class ConsentGivenBy(models.TextChoices):
    SUBJECT = "subject", _("The person")
    GUARDIAN = "guardian", _("A parent or guardian")


class Consent(models.Model):
    """Consent to share a person's data with an agency for a purpose."""

    GivenBy = ConsentGivenBy

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="consents", verbose_name=_("person"))
    agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents",
        help_text=_("Leave empty for consent that covers any partner agency."),
        verbose_name=_("agency"),
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    given_by = models.CharField(_("given by"), max_length=10, choices=GivenBy.choices, default=GivenBy.SUBJECT)
    guardian_name = models.CharField(
        _("guardian name"), max_length=200, blank=True, validators=[validate_printable_text]
    )
    given_on = models.DateField(_("given on"))
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    withdrawn_on = models.DateField(_("withdrawn on"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["person", "-given_on"]
        constraints = [
            models.CheckConstraint(condition=Q(purpose__in=ConsentPurpose.values), name="consent_purpose_valid"),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gte=F("given_on")),
                name="consent_expires_after_given",
                violation_error_message=_("Consent cannot expire before it was given."),
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gte=F("given_on")),
                name="consent_withdrawn_after_given",
                violation_error_message=_("Consent cannot be withdrawn before it was given."),
            ),
            models.CheckConstraint(
                condition=~Q(given_by="guardian") | ~Q(guardian_name=""),
                name="consent_guardian_named",
                violation_error_message=_("Name the guardian who gave consent."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} consent of person {self.person_id}"

    def clean(self) -> None:
        super().clean()
        if self.person_id and self.given_on and self.given_by == ConsentGivenBy.SUBJECT:
            if self.person.age_on(self.given_on) < 18:
                raise ValidationError({"given_by": _("A child's consent is given by a parent or guardian; name them.")})

    def is_current(self, day: datetime.date | None = None) -> bool:
        day = day or timezone.localdate()
        return (
            self.given_on <= day
            and (self.expires_on is None or self.expires_on >= day)
            and (self.withdrawn_on is None or self.withdrawn_on > day)
        )


class ReferralStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    COMPLETED = "completed", _("Completed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# A referral gives its agency access to the case while it is in one of these.
ACTIVE_REFERRAL_STATUSES = (ReferralStatus.PENDING, ReferralStatus.ACCEPTED)


class Referral(models.Model):
    """A case, or one of its stages, handed to a partner agency."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="referrals", verbose_name=_("case"))
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="referrals", verbose_name=_("agency"))
    stage = models.ForeignKey(
        "programmes.StageRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("stage"),
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="referrals", verbose_name=_("consent"))
    status = models.CharField(
        _("status"), max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.PENDING
    )
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("referred by")
    )
    referred_on = models.DateField(_("referred on"), default=timezone.localdate)
    responded_on = models.DateField(_("responded on"), null=True, blank=True)
    # Who answered (accepted or declined) and why: ``casework.services`` records them.
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    response_reason = models.TextField(
        _("reason for the answer"),
        blank=True,
        help_text=_("Why the agency accepted or declined (required to decline)."),
    )
    note = models.TextField(_("note"), blank=True, help_text=_("What the agency is asked to do. No sensitive details."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-referred_on", "-id"]
        indexes = [
            # Partner scoping: the cases an agency may see now.
            models.Index(fields=["agency", "status", "case"], name="referral_agency_scope_idx"),
            # The lists' default ordering.
            models.Index(fields=["-referred_on", "-id"], name="referral_order_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ReferralStatus.values), name="referral_status_valid"),
            models.CheckConstraint(condition=Q(purpose__in=ConsentPurpose.values), name="referral_purpose_valid"),
            models.UniqueConstraint(
                fields=["case", "agency", "purpose"],
                condition=Q(status__in=["pending", "accepted"]),
                name="referral_one_active_per_purpose",
                violation_error_message=_("This case already has an active referral to this agency for this purpose."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} → {self.agency}"

    def clean(self) -> None:
        super().clean()
        if not (self.consent_id and self.case_id):
            return
        consent = self.consent
        if consent.person_id != self.case.person_id:
            raise ValidationError({"consent": _("The consent must be given for the person of this case.")})
        if consent.agency_id is not None and consent.agency_id != self.agency_id:
            raise ValidationError({"consent": _("The consent does not cover this agency.")})
        # Consent to all rehabilitation services does not cover legal aid: that needs its own.
        general = ConsentPurpose.GENERAL if self.purpose != ConsentPurpose.LEGAL_AID else None
        if consent.purpose not in (self.purpose, general):
            raise ValidationError({"consent": _("The consent does not cover this purpose.")})
        if not consent.is_current(self.referred_on):
            raise ValidationError({"consent": _("The consent is not current on the day of the referral.")})


class ClosureRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ClosureRequest(models.Model):
    """A caseworker's request to close a case, decided by a supervisor of its programme."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="closure_requests", verbose_name=_("case"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"), max_length=10, choices=ClosureRequestStatus.choices, default=ClosureRequestStatus.PENDING
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
    comment = models.TextField(_("comment"), blank=True, help_text=_("The supervisor's comment on the decision."))

    class Meta:
        verbose_name = _("closure request")
        verbose_name_plural = _("closure requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status="pending"),
                name="closure_one_pending_per_case",
                violation_error_message=_("This case already has a pending closure request."),
            ),
            models.CheckConstraint(condition=Q(status__in=ClosureRequestStatus.values), name="closure_status_valid"),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="closure_decided_has_time",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="closure_reason_given"),
        ]

    def __str__(self) -> str:
        return f"Closure of {self.case} ({self.get_status_display()})"

    def clean(self) -> None:
        super().clean()
        if self._state.adding and self.case_id and self.case.status == CaseStatus.CLOSED:
            raise ValidationError({"case": _("The case is already closed.")})


class CaseStatusChange(models.Model):
    """The history of a case's status: opened, closed on approval, reopened."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="status_changes", verbose_name=_("case"))
    from_status = models.CharField(_("from status"), max_length=10, choices=CaseStatus.choices)
    to_status = models.CharField(_("to status"), max_length=10, choices=CaseStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    note = models.TextField(_("note"), blank=True)
    closure_request = models.ForeignKey(
        ClosureRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="status_changes",
        verbose_name=_("closure request"),
    )

    class Meta:
        verbose_name = _("case status change")
        verbose_name_plural = _("case status changes")
        ordering = ["case", "at", "id"]

    def __str__(self) -> str:
        return f"{self.case}: {self.from_status} → {self.to_status}"


class RetentionRun(models.Model):
    """The report of one retention run: what it anonymised and what failed.

    A failure names the case by reference, the step and the kind of error (with the
    database constraint's name): never a value of the person.
    """

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    today = models.DateField(_("today"), help_text=_("The day the run took as today."))
    cases_anonymised = models.PositiveIntegerField(_("cases anonymised"), default=0)
    persons_anonymised = models.PositiveIntegerField(_("persons anonymised"), default=0)
    failures = models.JSONField(
        _("failures"),
        default=list,
        blank=True,
        help_text=_("One row per case that could not be anonymised; tried again next run."),
    )

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at", "-id"]
        indexes = [
            # The admin's retention page: the latest run.
            models.Index(fields=["-started_at"], name="retention_run_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"Retention run of {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def failure_count(self) -> int:
        return len(self.failures or [])
