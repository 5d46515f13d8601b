"""Merging two records of one person: the duplicate goes into the record kept.

Administrators merge any two people; a supervisor merges people they see whose
every case is enrolled in a programme they supervise; caseworkers and partners
never merge. Everything recorded
about the duplicate moves to the kept record in one transaction, each row saved
(or deleted) through the ORM so that the audit trail names the actor: its names
(a spelling the kept record already has is not copied; its primary name becomes
another spelling), its identifiers (an identical one is not copied), its family
memberships (never twice in one family), its consents and its cases, which carry
their enrolments, stages, referrals, notes and history with them.

The duplicate stays as a pointer (``Person.merged_into``): its personal fields are
erased as retention erases them (``lifecycle.retention.persons_anonymise``), so the
data lives in one place, and every list, search and picker leaves it out
(``casework.selectors.person_visible_to``), while its old links lead to the kept
record. The trail records the merge with the actor and both ids, never a name.

Refused, with nothing written: the same record twice, a record already merged,
a record the user may not see (``NotVisible``, answered as a missing row), and a
merge that would leave the person two cases that are not closed (the database
allows one open case a person, whatever the programmes).
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit.context import acting_as
from audit.models import AuditEntry, persons_key
from casework.models import (
    Case,
    CaseStatus,
    Consent,
    FamilyMembership,
    NameKind,
    Person,
    PersonIdentifier,
    PersonName,
    Relationship,
    Script,
)
from casework.names import is_arabic_script
from casework.selectors import case_visible_to, enrolled_case_ids, person_kept_for, person_visible_to
from core.errors import NotVisible, TransitionNotAllowed
from core.roles import SUPERVISOR, is_administrator, programme_ids_for
from lifecycle.retention import admin_log_scrub, persons_anonymise


def may_merge(user) -> bool:
    """Administrators and supervisors merge records; caseworkers and partners never."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return is_administrator(user) or bool(programme_ids_for(user, role=SUPERVISOR))


def _same_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split()).casefold()


def script_of(text: str) -> str:
    """The script a name is written in, as far as its letters tell."""
    if is_arabic_script(text):
        return Script.ARABIC
    letters = [character for character in text if character.isalpha()]
    if letters and all("CYRILLIC" in unicodedata.name(character, "") for character in letters):
        return Script.CYRILLIC
    if letters and all("LATIN" in unicodedata.name(character, "") for character in letters):
        return Script.LATIN
    return Script.OTHER


def _lock_pair(*, keep_id: int, merge_id: int, by) -> tuple[Person, Person]:
    """Both records, locked, after every check that needs no case: the order of the
    checks tells a user nothing of a record they may not see."""
    if not may_merge(by):
        raise TransitionNotAllowed(_("Only administrators and supervisors merge records."))
    try:
        keep_id, merge_id = int(keep_id), int(merge_id)
    except (TypeError, ValueError):
        raise NotVisible() from None
    if keep_id == merge_id:
        raise ValidationError(_("Choose two different records to merge."))
    people = {person.pk: person for person in Person.objects.select_for_update().filter(pk__in=[keep_id, merge_id])}
    if len(people) != 2:
        raise NotVisible()
    keep, merged = people[keep_id], people[merge_id]
    for person in (keep, merged):
        if person.merged_into_id is not None:
            if person_kept_for(by, person.pk) is None:
                raise NotVisible()
            raise TransitionNotAllowed(_("One of these records has already been merged into another."))
    if person_visible_to(by).filter(pk__in=[keep.pk, merged.pk]).count() != 2:
        raise NotVisible()
    for person in (keep, merged):
        if person.anonymised_at is not None:
            raise TransitionNotAllowed(_("A record erased by retention cannot be merged."))
    return keep, merged


def persons_merge(*, keep_id: int, merge_id: int, by) -> Person:
    """Merge the record ``merge_id`` into ``keep_id`` for ``by``; returns the kept person."""
    with transaction.atomic():
        keep, merged = _lock_pair(keep_id=keep_id, merge_id=merge_id, by=by)
        cases = list(Case.objects.select_for_update().filter(person_id__in=[keep.pk, merged.pk]).order_by("pk"))
        if not is_administrator(by):
            # A supervisor merges only people whose every case they see as a supervisor:
            # a case of a programme where they are a caseworker does not count.
            supervised = programme_ids_for(by, role=SUPERVISOR)
            visible_cases = set(
                case_visible_to(by)
                .filter(pk__in=[case.pk for case in cases], id__in=enrolled_case_ids(programme_ids=supervised))
                .values_list("pk", flat=True)
            )
            if any(case.pk not in visible_cases for case in cases):
                raise NotVisible()
        open_of = {case.person_id for case in cases if case.status != CaseStatus.CLOSED}
        if open_of == {keep.pk, merged.pk}:
            raise TransitionNotAllowed(
                _(
                    "Both records have a case that is not closed, and a person has one open case at a time: "
                    "close one of the cases before merging."
                )
            )
        with acting_as(by):
            # First, while the duplicate's names still exist: the admin log's rows are found through them.
            admin_log_scrub(person_ids=[merged.pk])
            _names_move(keep, merged)
            _identifiers_move(keep, merged)
            _memberships_move(keep, merged)
            for consent in Consent.objects.select_for_update().filter(person=merged).order_by("pk"):
                consent.person = keep
                consent.save(update_fields=["person"])
            for case in cases:
                if case.person_id == merged.pk:
                    case.person = keep
                    case.save(update_fields=["person", "updated_at"])
            # Records merged into the duplicate earlier now point at the kept one.
            for earlier in Person.objects.select_for_update().filter(merged_into=merged).order_by("pk"):
                earlier.merged_into = keep
                earlier.save(update_fields=["merged_into", "updated_at"])
            merged.merged_into = keep
            merged.save(update_fields=["merged_into", "updated_at"])
            persons_anonymise(person_ids=[merged.pk])
            AuditEntry.objects.log_create(
                keep,
                force_log=True,
                action=AuditEntry.Action.UPDATE,
                changes={"merged_from": ["None", str(merged.pk)]},
                additional_data={"merge": {"kept": keep.pk, "merged": merged.pk}},
                persons=persons_key([keep.pk, merged.pk]),
            )
        keep.refresh_from_db()
        return keep


def _names_move(keep: Person, merged: Person) -> None:
    """The duplicate's names go to the kept record, each spelling once; its primary
    names (and the name on the record itself) become other spellings there."""
    kept_primary = keep.names.filter(kind=NameKind.PRIMARY).exists()
    known = {(_same_text(name.full_name), name.kind) for name in keep.names.all()}
    known.add((_same_text(keep.full_name), NameKind.PRIMARY))

    def is_known(text: str, kind: str) -> bool:
        key = _same_text(text)
        if (key, kind) in known:
            return True
        # A spelling that is already the kept record's primary name says nothing more.
        return kind == NameKind.SPELLING and (key, NameKind.PRIMARY) in known

    for name in PersonName.objects.select_for_update().filter(person=merged).order_by("kind", "pk"):
        kind = NameKind.SPELLING if name.kind == NameKind.PRIMARY and kept_primary else name.kind
        if is_known(name.full_name, kind):
            name.delete()
            continue
        name.person = keep
        name.kind = kind
        name.save(update_fields=["person", "kind"])
        known.add((_same_text(name.full_name), kind))
        kept_primary = kept_primary or kind == NameKind.PRIMARY
    if merged.full_name and not is_known(merged.full_name, NameKind.SPELLING):
        PersonName.objects.create(
            person=keep, full_name=merged.full_name, script=script_of(merged.full_name), kind=NameKind.SPELLING
        )


def _identifiers_move(keep: Person, merged: Person) -> None:
    """The duplicate's identifiers go to the kept record; one the kept record already
    holds (same kind and number, the country the same or not given) is not copied."""
    kept = list(keep.identifiers.values_list("kind", "value_digest", "issuing_country"))

    def held(identifier: PersonIdentifier) -> bool:
        return any(
            kind == identifier.kind
            and digest == identifier.value_digest
            and (country == identifier.issuing_country or not country or not identifier.issuing_country)
            for kind, digest, country in kept
        )

    for identifier in PersonIdentifier.objects.select_for_update().filter(person=merged).order_by("pk"):
        if held(identifier):
            identifier.delete()
            continue
        identifier.person = keep
        identifier.save(update_fields=["person"])


def _memberships_move(keep: Person, merged: Person) -> None:
    """The duplicate's family memberships go to the kept record, one per family: where
    both belong, the kept membership stays (and heads the family if the duplicate did)."""
    kept = {membership.family_id: membership for membership in keep.family_memberships.select_for_update()}
    for membership in FamilyMembership.objects.select_for_update().filter(person=merged).order_by("pk"):
        existing = kept.get(membership.family_id)
        if existing is None:
            membership.person = keep
            membership.save(update_fields=["person"])
            kept[membership.family_id] = membership
            continue
        was_head = membership.relationship == Relationship.HEAD
        membership.delete()
        if was_head and existing.relationship != Relationship.HEAD:
            existing.relationship = Relationship.HEAD
            existing.save(update_fields=["relationship"])
