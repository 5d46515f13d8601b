"""Registering an arriving family in one step: its people, the family, a case per
returnee with its reference, and each case's enrolment with its stage plan.

``arrivals_register`` is the one service every door calls (the admin's "Register
arrivals" page, the API, the cohort import through ``arrivals_register_many``, which
registers many families by the same rules, a batch per transaction). In one
transaction it writes:

- each member as a ``Person`` (a primary name, other spellings as ``PersonName``
  rows in their script, sex, a date of birth or an age turned into an estimated
  date of birth, nationality and languages as ISO codes), recorded by ``by``;
  a member decided to be someone already on file is that person, not a new one;
- the family with each member's relationship to its head;
- a case per returnee, its reference generated per programme and year
  (``<CODE>-<YEAR>-<NNNN>``, never typed), with the operation, the arrival date
  and ``by`` as caseworker when ``by`` works in the programme;
- the enrolment of each case (``programmes.services.enrolment_create``: the stage
  plan and its first follow-ups);
- the receiving relative (name, relationship, phone, address, stored encrypted) as a
  ``ReceivingRelative`` of the family.

Before it writes anything it runs the duplicate check (``casework.duplicates``) for
every member against the people ``by`` may see and against the other members of the
submission. A member with candidates and no decision stops everything:
``PossibleDuplicates`` carries the candidates (ids the user may see, scores,
reasons) and nothing is written. A decision is "same as person X" (that person is
used) or "different" (the member is registered, and each pair is recorded as
``DistinctPersonPair`` so it is not asked again).
"""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audit.bulk import log_created
from audit.context import acting_as
from casework import selectors
from casework.duplicates import (
    NAME_THRESHOLD,
    PeopleOnFile,
    date_factor,
    duplicate_candidates,
    name_similarity,
)
from casework.models import (
    PHONE_PATTERN,
    Case,
    CaseStatus,
    DistinctPersonPair,
    Family,
    FamilyMembership,
    FamilyMembershipRole,
    NameKind,
    Person,
    PersonName,
    ReceivingRelative,
    Relationship,
    RepatriationOperation,
    Script,
    validate_printable_text,
    years_before,
)
from casework.names import name_key, name_tokens
from core.errors import DomainError
from core.roles import programme_ids_for
from core.visibility import require_visible
from programmes.models import Programme
from programmes.services import enrolments_write

#: How many people one registration may carry.
MAX_MEMBERS = 20
#: The oldest age that may be given instead of a date of birth.
MAX_AGE = 110
#: Tries at a free case reference when another door took the one computed.
REFERENCE_ATTEMPTS = 5
SAME = "same"
DIFFERENT = "different"


# --- What a door hands in ----------------------------------------------------------------


@dataclass
class MemberInput:
    """One arriving person as typed. ``same_as`` is filled from the decisions."""

    given_name: str
    sex: str
    relationship: str
    family_name: str = ""
    patronymic: str = ""
    other_spellings: list[str] = field(default_factory=list)
    date_of_birth: datetime.date | None = None
    age: int | None = None
    nationality: str = ""
    languages: list[str] = field(default_factory=list)
    place_of_birth: str = ""
    interpreter_needed: bool = False
    interpreter_language: str = ""


@dataclass
class Household:
    programme: Programme
    arrival_date: datetime.date
    members: list[MemberInput]
    operation: RepatriationOperation | None = None
    relative_name: str = ""
    relative_phone: str = ""
    relative_address: str = ""
    relative_relationship: str = Relationship.OTHER_RELATIVE


@dataclass(frozen=True)
class Candidate:
    """A possible duplicate of a member: a person on file (``person_id``, one the user
    may see) or another member of the same submission (``member``, its index)."""

    score: float
    reasons: tuple[str, ...]
    person_id: int | None = None
    member: int | None = None


class PossibleDuplicates(DomainError):
    """Members that may already be on file (or are typed twice): nothing was written.

    ``candidates`` maps each undecided member's index to its candidates, best first."""

    def __init__(self, candidates: dict[int, list[Candidate]]):
        super().__init__(_("Some people may already be on file: decide for each whether they are the same person."))
        self.candidates = candidates


@dataclass
class Registration:
    """What a registration wrote: the head first, then the others in the order given."""

    family: Family
    persons: list[Person]
    cases: list[Case]
    #: The index in ``Household.members`` of each entry of ``persons`` and ``cases``.
    members: list[int] = field(default_factory=list)

    def person_of(self, member: int) -> Person:
        return self.persons[self.members.index(member)]

    def case_of(self, member: int) -> Case:
        return self.cases[self.members.index(member)]


# --- The service --------------------------------------------------------------------------


def arrivals_register(
    *, household: Household, by, decisions: dict[int, str | int] | None = None, on_file: PeopleOnFile | None = None
) -> Registration:
    """Register an arriving family in one transaction (see the module's docstring).

    ``decisions`` maps a member's index to ``"different"`` or to the id of the person
    on file they are (an int, or ``"same:<id>"``). Raises ``ValidationError`` (field
    errors, keys like ``members.2.age``) for bad input and for a decision naming a
    person the user may not see, ``NotVisible`` for a programme the user does not work
    in, ``PossibleDuplicates`` for undecided candidates; in every case nothing is
    written. The check runs before the transaction: it warns, the database decides.
    ``on_file`` (``people_on_file(by)``) spares reading the people on file again.
    """
    (outcome,) = arrivals_register_many(households=[household], by=by, decisions=[decisions], on_file=on_file)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def arrivals_register_many(
    *,
    households: list[Household],
    by,
    decisions: list[dict | None] | None = None,
    on_file: PeopleOnFile | None = None,
    on_written: Callable[[list[tuple[int, Registration]]], None] | None = None,
) -> list[Registration | ValidationError | PossibleDuplicates]:
    """``arrivals_register`` for many families (a cohort import's batch), by the same
    rules, answering for each family in order: its ``Registration``, or the
    ``ValidationError`` or ``PossibleDuplicates`` that ``arrivals_register`` would raise.

    Each family is validated and checked against the people on file, the families
    registered before it, and the families of this call waiting to be written (one
    that resembles a waiting one has them written first, then is checked against
    them). The families that pass are written together in one transaction, row kinds
    in bulk (their case references allocated in one step per programme and year,
    audited as ``save()`` audits); ``on_written`` (their positions and registrations)
    runs inside it for what a door adds. If that transaction fails, each family is
    written again in its own, so that one family's error is its own. ``NotVisible``
    (a programme or operation ``by`` may not use) is raised for the whole call. The
    people registered are added to ``on_file``.
    """
    decisions = list(decisions or [None] * len(households))
    outcomes: list = [None] * len(households)
    checked: set[tuple[str, int]] = set()
    waiting: list[_Item] = []
    # The people of the families waiting to be written, under temporary ids (negative).
    waiting_people = PeopleOnFile.empty()
    for position, household in enumerate(households):
        _require_visible_once(by, household, checked)
        try:
            item = _prepare(position, household, decisions[position] or {}, by)
        except ValidationError as exc:
            outcomes[position] = exc
            continue
        if waiting and _resembles(item.people, waiting_people):
            _write_items(waiting, by, on_file, on_written, outcomes)
            waiting, waiting_people = [], PeopleOnFile.empty()
        candidates = _candidates(household, item.people, by, on_file)
        undecided = {
            index: found
            for index, found in candidates.items()
            if index not in item.same_as and index not in item.different
        }
        if undecided:
            outcomes[position] = PossibleDuplicates(undecided)
            continue
        item.answered = {index: found for index, found in candidates.items() if index in item.different}
        waiting.append(item)
        for index, person in enumerate(item.people):
            if index not in item.same_as and person.date_of_birth is not None:
                person.pk = -(len(waiting_people.people) + 1)
                waiting_people.add(person, person.intake_spellings)
                person.pk = None
    if waiting:
        _write_items(waiting, by, on_file, on_written, outcomes)
    return outcomes


@dataclass
class _Item:
    """A family that passed its checks, waiting to be written."""

    position: int
    household: Household
    people: list[Person]
    same_as: dict[int, Person]
    different: set[int]
    answered: dict[int, list[Candidate]] = field(default_factory=dict)


def _prepare(position: int, household: Household, decisions: dict, by) -> _Item:
    """The family's unsaved people, validated, with the decisions read; raises ``ValidationError``."""
    today = household.programme.local_today()
    errors: dict[str, list[str]] = {}
    _validate_household(household, today, errors)
    if by is None and (household.relative_name or "").strip():
        errors.setdefault("relative_name", []).append(_("The receiving relative is recorded by a member of staff."))
    people = [_person_of(index, member, today, errors) for index, member in enumerate(household.members)]
    same_as, different = _read_decisions(household, decisions, by, errors) if decisions else ({}, set())
    if errors:
        raise ValidationError(errors)
    return _Item(position=position, household=household, people=people, same_as=same_as, different=different)


def _resembles(people: list[Person], waiting_people: PeopleOnFile) -> bool:
    """Whether one of ``people`` may be someone of the families waiting to be written."""
    return any(
        person.date_of_birth is not None
        and waiting_people.candidates(
            given_name=person.given_name,
            family_name=person.family_name,
            date_of_birth=person.date_of_birth,
            estimated=person.date_of_birth_estimated,
            sex=person.sex,
            other_spellings=person.intake_spellings,
        )
        for person in people
    )


def arrivals_check(*, household: Household, by, on_file: PeopleOnFile | None = None) -> dict[int, list[Candidate]]:
    """What ``arrivals_register`` would answer before writing, writing nothing: raises
    ``ValidationError`` or ``NotVisible`` as it does, and returns each member's duplicate
    candidates (empty when it would register the family as given). For doors that
    check many families before registering any (the cohort import)."""
    (outcome,) = arrivals_check_many(households=[household], by=by, on_file=on_file)
    if isinstance(outcome, ValidationError):
        raise outcome
    return outcome


def arrivals_check_many(
    *, households: list[Household], by, on_file: PeopleOnFile | None = None
) -> list[dict[int, list[Candidate]] | ValidationError]:
    """``arrivals_check`` for many families: each one's candidates, or its
    ``ValidationError``; ``NotVisible`` for the whole call. Each programme and operation
    is checked once."""
    checked: set[tuple[str, int]] = set()
    outcomes: list = []
    for household in households:
        _require_visible_once(by, household, checked)
        today = household.programme.local_today()
        errors: dict[str, list[str]] = {}
        _validate_household(household, today, errors)
        people = [_person_of(index, member, today, errors) for index, member in enumerate(household.members)]
        if errors:
            outcomes.append(ValidationError(errors))
            continue
        outcomes.append(_candidates(household, people, by, on_file))
    return outcomes


def _require_visible_once(by, household: Household, checked: set[tuple[str, int]]) -> None:
    for kind, row in (("programme", household.programme), ("operation", household.operation)):
        if row is not None and (kind, row.pk) not in checked:
            require_visible(by, row)
            checked.add((kind, row.pk))


# --- Validation ---------------------------------------------------------------------------


def _validate_household(household: Household, today: datetime.date, errors: dict) -> None:
    if not household.members:
        errors.setdefault("members", []).append(_("Add at least one person."))
    if len(household.members) > MAX_MEMBERS:
        errors.setdefault("members", []).append(_("Register at most %(n)d people at once.") % {"n": MAX_MEMBERS})
    heads = [m for m in household.members if m.relationship == Relationship.HEAD]
    if household.members and len(heads) != 1:
        errors.setdefault("members", []).append(_("Name exactly one person as the head of the family."))
    if household.arrival_date is None:
        errors.setdefault("arrival_date", []).append(_("Give the arrival date."))
    elif household.arrival_date > today:
        errors.setdefault("arrival_date", []).append(_("The arrival date cannot be in the future."))
    elif household.arrival_date < today - datetime.timedelta(days=366):
        errors.setdefault("arrival_date", []).append(_("The arrival date must fall within the last year."))
    for name, value, limit in (
        ("relative_name", household.relative_name, 200),
        ("relative_phone", household.relative_phone, 40),
    ):
        _check_text(name, value, limit, errors)
    if (household.relative_phone or household.relative_address) and not (household.relative_name or "").strip():
        errors.setdefault("relative_name", []).append(_("Give the receiving relative's name."))
    if household.relative_name and household.relative_relationship not in Relationship.values:
        errors.setdefault("relative_relationship", []).append(_("Choose a relationship from the list."))
    if household.relative_phone and not PHONE_PATTERN.fullmatch(household.relative_phone):
        errors.setdefault("relative_phone", []).append(_("Give a phone number of digits, spaces and + ( ) - ."))
    if len(household.relative_address or "") > 1000:
        errors.setdefault("relative_address", []).append(_("The address is too long."))
    elif household.relative_address:
        # Line breaks are fine in an address; other control characters are not.
        try:
            for line in household.relative_address.splitlines():
                validate_printable_text(line)
        except ValidationError as exc:
            errors.setdefault("relative_address", []).extend(exc.messages)


def _check_text(name: str, value: str, limit: int, errors: dict) -> None:
    if not value:
        return
    if len(value) > limit:
        errors.setdefault(name, []).append(_("Keep this under %(n)d characters.") % {"n": limit})
        return
    try:
        validate_printable_text(value)
    except ValidationError as exc:
        errors.setdefault(name, []).extend(exc.messages)


def estimated_date_of_birth(age: int, today: datetime.date) -> datetime.date:
    """ "About 7": half a year past the seventh birthday, so the person is 7 today."""
    return years_before(today, age) - datetime.timedelta(days=182)


def script_of(text: str) -> str:
    """The script a spelling is written in, from its letters."""
    seen = set()
    for character in text:
        if not character.isalpha():
            continue
        name = unicodedata.name(character, "")
        if name.startswith("CYRILLIC"):
            seen.add(Script.CYRILLIC)
        elif name.startswith("ARABIC"):
            seen.add(Script.ARABIC)
        elif name.startswith("LATIN"):
            seen.add(Script.LATIN)
        else:
            seen.add(Script.OTHER)
    return seen.pop() if len(seen) == 1 else Script.OTHER


def _person_of(index: int, member: MemberInput, today: datetime.date, errors: dict) -> Person:
    """The unsaved person of a member, validated as the model validates it."""
    prefix = f"members.{index}."
    if member.date_of_birth is None and member.age is None:
        errors.setdefault(prefix + "date_of_birth", []).append(_("Give a date of birth or an age."))
    elif member.date_of_birth is not None and member.age is not None:
        errors.setdefault(prefix + "age", []).append(_("Give a date of birth or an age, not both."))
    elif member.age is not None and not (0 <= member.age <= MAX_AGE):
        errors.setdefault(prefix + "age", []).append(_("Give an age between 0 and %(n)d.") % {"n": MAX_AGE})
    if member.relationship not in Relationship.values:
        errors.setdefault(prefix + "relationship", []).append(_("Choose a relationship from the list."))
    if member.nationality and member.nationality not in COUNTRIES:
        errors.setdefault(prefix + "nationality", []).append(_("Choose a country from the list."))
    if any(code not in LANGUAGES for code in member.languages):
        errors.setdefault(prefix + "languages", []).append(_("Choose languages from the list."))
    if member.interpreter_language and member.interpreter_language not in LANGUAGES:
        errors.setdefault(prefix + "interpreter_language", []).append(_("Choose languages from the list."))
    spellings = [spelling.strip() for spelling in member.other_spellings if spelling and spelling.strip()]
    for spelling in spellings:
        _check_text(prefix + "other_spellings", spelling, 300, errors)
    estimated = member.date_of_birth is None and member.age is not None
    person = Person(
        given_name=(member.given_name or "").strip(),
        family_name=(member.family_name or "").strip(),
        patronymic=(member.patronymic or "").strip(),
        sex=member.sex,
        date_of_birth=member.date_of_birth
        or (estimated_date_of_birth(member.age, today) if estimated and 0 <= member.age <= MAX_AGE else None),
        date_of_birth_estimated=estimated,
        place_of_birth=(member.place_of_birth or "").strip(),
        nationality=member.nationality or "",
        languages=list(dict.fromkeys(member.languages)),
        interpreter_needed=bool(member.interpreter_needed or member.interpreter_language),
        interpreter_language=member.interpreter_language or "",
    )
    try:
        # Its one constraint (the sex among the choices) is checked with the fields: no query.
        person.full_clean(
            exclude=["date_of_birth"] if person.date_of_birth is None else None, validate_constraints=False
        )
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(prefix + name, []).extend(messages)
    person.intake_spellings = spellings
    return person


def _read_decisions(household: Household, decisions: dict, by, errors: dict):
    """(member -> person on file, members decided different) from the decisions."""
    same_as: dict[int, Person] = {}
    different: set[int] = set()
    for raw_index, value in decisions.items():
        try:
            index = int(raw_index)
        except (TypeError, ValueError):
            continue
        if not 0 <= index < len(household.members):
            continue
        if value == DIFFERENT:
            different.add(index)
            continue
        text = str(value)
        if text.startswith(f"{SAME}:"):
            text = text.split(":", 1)[1]
        if not text.isdigit():
            errors.setdefault(f"members.{index}.decision", []).append(_("Choose one of the people listed."))
            continue
        visible = selectors.person_visible_to(by) if by is not None else Person.objects.all()
        person = visible.filter(pk=int(text)).first()
        if person is None:
            errors.setdefault(f"members.{index}.decision", []).append(_("Choose one of the people listed."))
            continue
        if Case.objects.filter(person=person).exclude(status=CaseStatus.CLOSED).exists():
            errors.setdefault(f"members.{index}.decision", []).append(
                _("This person already has an open case: register the others, and link the case from its page.")
            )
            continue
        same_as[index] = person
    if len({person.pk for person in same_as.values()}) != len(same_as):
        errors.setdefault("members", []).append(_("Two members cannot be the same person on file."))
    return same_as, different


# --- The duplicate check --------------------------------------------------------------------


def people_on_file(by) -> PeopleOnFile:
    """The people ``by`` may see, read once, for a door that checks many families in a
    row (the cohort import): pass it to ``arrivals_check`` and ``arrivals_register``, and
    ``PeopleOnFile.add`` the people each registration records."""
    return PeopleOnFile(Person.objects.all() if by is None else selectors.person_visible_to(by))


def _candidates(household: Household, people: list[Person], by, on_file=None) -> dict[int, list[Candidate]]:
    """Each member's possible duplicates: people on file the user may see (``on_file``
    when given: ``people_on_file(by)``), and other members of this submission. Pairs
    decided different before are not asked again."""
    if by is None:
        visible = Person.objects.all()
        identifiers_among = visible
    elif on_file is not None:
        # The people on file are read already, and no identifier is given: nothing else to ask.
        visible = identifiers_among = None
    else:
        visible = selectors.person_visible_to(by)
        identifiers_among = visible.filter(pk__in=selectors.sensitive_person_visible_to(by).values("pk"))
    found: dict[int, list[Candidate]] = {}
    for index, person in enumerate(people):
        matches = duplicate_candidates(
            given_name=person.given_name,
            family_name=person.family_name,
            date_of_birth=person.date_of_birth,
            estimated=person.date_of_birth_estimated,
            sex=person.sex,
            other_spellings=person.intake_spellings,
            among=visible,
            identifiers_among=identifiers_among,
            on_file=on_file,
        )
        candidates = [
            Candidate(score=score, reasons=reasons, person_id=candidate.pk) for candidate, score, reasons in matches
        ]
        candidates = _without_known_pairs(candidates)
        candidates += [
            Candidate(score=score, reasons=reasons, member=other)
            for other, score, reasons in _within_submission(index, people)
        ]
        if candidates:
            found[index] = candidates
    return found


def _without_known_pairs(candidates: list[Candidate]) -> list[Candidate]:
    """Drop a candidate when a better one (or as good) is on file as a different person
    from it: whoever this is, someone already looked at those two side by side."""
    ids = [c.person_id for c in candidates]
    if len(ids) < 2:
        return candidates
    pairs = set(
        DistinctPersonPair.objects.filter(person_a_id__in=ids, person_b_id__in=ids).values_list(
            "person_a_id", "person_b_id"
        )
    )
    kept = []
    for position, candidate in enumerate(candidates):
        better = candidates[:position]
        if any(tuple(sorted((b.person_id, candidate.person_id))) in pairs for b in better):
            continue
        kept.append(candidate)
    return kept


def _within_submission(index: int, people: list[Person]):
    """Other members of the submission who may be the same person as member ``index``
    (one typed twice), by the same rule as the check against the people on file."""
    person = people[index]
    if person.date_of_birth is None:
        return []
    mine = [name_tokens(f"{person.given_name} {person.family_name}")]
    mine += [name_tokens(spelling) for spelling in person.intake_spellings]
    mine = [tokens for tokens in mine if tokens]
    found = []
    for other_index, other in enumerate(people):
        if other_index == index or other.date_of_birth is None or other.sex != person.sex:
            continue
        dates = date_factor(
            person.date_of_birth, person.date_of_birth_estimated, other.date_of_birth, other.date_of_birth_estimated
        )
        if dates is None:
            continue
        theirs = [name_tokens(f"{other.given_name} {other.family_name}")]
        theirs += [name_tokens(spelling) for spelling in other.intake_spellings]
        theirs = [tokens for tokens in theirs if tokens]
        if not mine or not theirs:
            continue
        similarity = max(name_similarity(a, b) for a in mine for b in theirs)
        if similarity < NAME_THRESHOLD:
            continue
        factor, date_reason = dates
        name_reason = "same name" if similarity == 1.0 else "similar name"
        found.append((other_index, round(similarity * factor, 3), ("typed twice?", name_reason, date_reason)))
    return found


# --- Writing --------------------------------------------------------------------------------


def _write_items(items: list[_Item], by, on_file, on_written, outcomes: list) -> None:
    """Write ``items`` in one transaction, or, if that fails, each in its own."""
    try:
        registrations = _write_together(items, by, on_file, on_written)
    except ValidationError as exc:
        if len(items) == 1:
            outcomes[items[0].position] = exc
            return
        for item in items:
            _write_items([item], by, on_file, on_written, outcomes)
        return
    for item, registration in zip(items, registrations, strict=True):
        outcomes[item.position] = registration


def _write_together(items: list[_Item], by, on_file, on_written) -> list[Registration]:
    for _attempt in range(REFERENCE_ATTEMPTS):
        try:
            with transaction.atomic(), acting_as(by):
                registrations = _write(items, by)
                if on_written is not None:
                    on_written([(item.position, registration) for item, registration in zip(items, registrations)])
        except ValidationError:
            _unsaved(items)
            raise
        except IntegrityError:
            # A reference typed elsewhere meanwhile, or a person's open case: tell them apart.
            _unsaved(items)
            people = [person.pk for item in items for person in item.same_as.values()]
            if people and Case.objects.filter(person_id__in=people).exclude(status=CaseStatus.CLOSED).exists():
                raise ValidationError({"members": [_("A person of this family already has an open case.")]}) from None
            continue
        if on_file is not None:
            for item, registration in zip(items, registrations):
                for index, person in enumerate(item.people):
                    if index not in item.same_as:
                        on_file.add(registration.person_of(index), person.intake_spellings)
        return registrations
    raise ValidationError({"members": [_("No free case reference was found; try again.")]})


def _unsaved(items: list[_Item]) -> None:
    """The people of a transaction rolled back are not saved: written again, they are inserted."""
    for item in items:
        for person in item.people:
            person.pk = None
            person._state.adding = True


def _write(items: list[_Item], by) -> list[Registration]:
    """Every family of ``items``, each kind of row in one ``bulk_create`` and audited."""
    programmes = sorted({item.household.programme.pk for item in items})
    # One registration of a programme at a time: references are counted under this lock.
    list(Programme.objects.select_for_update().filter(pk__in=programmes).values_list("pk", flat=True))
    works_in = set(programme_ids_for(by)) if by is not None else set()
    references = _References()

    created: list[Person] = []
    persons_of: list[list[Person]] = []
    for item in items:
        persons = []
        for index, person in enumerate(item.people):
            if index in item.same_as:
                persons.append(item.same_as[index])
                continue
            person.created_by = by
            person.search_key = name_key(person.full_name)
            created.append(person)
            persons.append(person)
        persons_of.append(persons)
    Person.objects.bulk_create(created)

    names = []
    for person in created:
        seen = {person.full_name}
        for spelling in person.intake_spellings:
            if spelling in seen:
                continue
            seen.add(spelling)
            name = PersonName(
                person=person,
                full_name=spelling,
                script=script_of(spelling),
                kind=NameKind.SPELLING,
                search_key=name_key(spelling),
            )
            # Checked as a spelling when the person was; new, so no name of theirs is on file.
            name.full_clean(exclude=["person"], validate_unique=False, validate_constraints=False)
            names.append(name)
    PersonName.objects.bulk_create(names)

    for item, persons in zip(items, persons_of):
        _record_distinct_pairs(persons, item.answered, by)

    families, memberships, cases, orders = [], [], [], []
    for item, persons in zip(items, persons_of):
        household = item.household
        programme = household.programme
        today = programme.local_today()
        head_index = next(i for i, m in enumerate(household.members) if m.relationship == Relationship.HEAD)
        head = persons[head_index]
        family = Family(
            reference=references.next(Family, f"F-{programme.code.upper()[:20]}-{today.year}-"),
            label=_("%(name)s household") % {"name": head.family_name or head.given_name},
            operation=household.operation,
            created_by=by,
        )
        # The operation was checked visible; the reference is free under the programme's lock.
        family.full_clean(exclude=["operation", "created_by"], validate_unique=False)
        families.append(family)
        order = [head_index] + [i for i in range(len(persons)) if i != head_index]
        orders.append(order)
        caseworker = by if by is not None and programme.pk in works_in else None
        for index in order:
            memberships.append(
                FamilyMembership(
                    family=family,
                    person=persons[index],
                    relationship=household.members[index].relationship,
                    role=FamilyMembershipRole.RETURNEE,
                )
            )
            case = Case(
                reference=references.next(Case, f"{programme.code.upper()[:20]}-{today.year}-"),
                person=persons[index],
                family=family,
                operation=household.operation,
                caseworker=caseworker,
                arrival_date=household.arrival_date,
                opened_on=today,
            )
            case.full_clean(
                exclude=["person", "family", "operation", "caseworker"],
                validate_unique=False,
                validate_constraints=False,
            )
            cases.append(case)
    Family.objects.bulk_create(families)
    for membership in memberships:
        # Validated as the family was: one head, each member once (the database holds both).
        membership.full_clean(exclude=["family", "person"], validate_unique=False, validate_constraints=False)
    FamilyMembership.objects.bulk_create(memberships)
    Case.objects.bulk_create(cases)
    for rows in (created, names, families, memberships, cases):
        log_created(rows)

    by_programme: dict[int, list[Case]] = {}
    registrations = []
    position = 0
    relatives = []
    for item, persons, family, order in zip(items, persons_of, families, orders):
        mine = cases[position : position + len(order)]
        position += len(order)
        by_programme.setdefault(item.household.programme.pk, []).extend(mine)
        household = item.household
        if (household.relative_name or "").strip():
            relative = ReceivingRelative(
                family=family,
                name=household.relative_name.strip(),
                relationship=household.relative_relationship or Relationship.OTHER_RELATIVE,
                phone=(household.relative_phone or "").strip(),
                address=(household.relative_address or "").strip(),
                created_by=by,
            )
            # Validated with the household (name, relationship, phone, address): no query.
            relative.full_clean(exclude=["family", "created_by"], validate_unique=False, validate_constraints=False)
            relatives.append(relative)
        registrations.append(
            Registration(family=family, persons=[persons[i] for i in order], cases=mine, members=order)
        )
    programme_of = {item.household.programme.pk: item.household.programme for item in items}
    for pk, programme_cases in by_programme.items():
        enrolments_write(cases=programme_cases, programme=programme_of[pk], by=by)
    ReceivingRelative.objects.bulk_create(relatives)
    log_created(relatives)
    return registrations


class _References:
    """The next free ``<prefix><NNNN>`` of each model and prefix: the references on file
    are read once per prefix, then counted on (under the programme's lock)."""

    def __init__(self):
        self._last: dict[tuple[type, str], int] = {}

    def next(self, model, prefix: str) -> str:
        key = (model, prefix)
        if key not in self._last:
            self._last[key] = max(
                (
                    int(reference[len(prefix) :])
                    for reference in model.objects.filter(reference__startswith=prefix).values_list(
                        "reference", flat=True
                    )
                    if reference[len(prefix) :].isdigit()
                ),
                default=0,
            )
        self._last[key] += 1
        return f"{prefix}{self._last[key]:04d}"


def _record_distinct_pairs(persons, answered: dict[int, list[Candidate]], by) -> None:
    """Each member decided different is recorded as not being each candidate shown."""
    for index, shown in answered.items():
        for other in shown:
            person_id = other.person_id if other.person_id is not None else persons[other.member].pk
            low, high = sorted((persons[index].pk, person_id))
            if low == high:
                continue
            DistinctPersonPair.objects.get_or_create(person_a_id=low, person_b_id=high, defaults={"decided_by": by})


# --- The codes a door offers: ISO 3166-1 countries and ISO 639-1 languages, with names ---

_COUNTRIES = (
    "AD Andorra; AE United Arab Emirates; AF Afghanistan; AG Antigua and Barbuda; AI Anguilla; AL Albania; AM "
    "Armenia; AO Angola; AQ Antarctica; AR Argentina; AS American Samoa; AT Austria; AU Australia; AW Aruba; "
    "AX Åland Islands; AZ Azerbaijan; BA Bosnia and Herzegovina; BB Barbados; BD Bangladesh; BE Belgium; BF "
    "Burkina Faso; BG Bulgaria; BH Bahrain; BI Burundi; BJ Benin; BL Saint Barthélemy; BM Bermuda; BN Brunei "
    "Darussalam; BO Bolivia; BQ Bonaire, Sint Eustatius and Saba; BR Brazil; BS Bahamas; BT Bhutan; BV Bouvet "
    "Island; BW Botswana; BY Belarus; BZ Belize; CA Canada; CC Cocos (Keeling) Islands; CD Congo, The "
    "Democratic Republic of the; CF Central African Republic; CG Congo; CH Switzerland; CI Côte d'Ivoire; CK "
    "Cook Islands; CL Chile; CM Cameroon; CN China; CO Colombia; CR Costa Rica; CU Cuba; CV Cabo Verde; CW "
    "Curaçao; CX Christmas Island; CY Cyprus; CZ Czechia; DE Germany; DJ Djibouti; DK Denmark; DM Dominica; "
    "DO Dominican Republic; DZ Algeria; EC Ecuador; EE Estonia; EG Egypt; EH Western Sahara; ER Eritrea; ES "
    "Spain; ET Ethiopia; FI Finland; FJ Fiji; FK Falkland Islands (Malvinas); FM Micronesia, Federated States "
    "of; FO Faroe Islands; FR France; GA Gabon; GB United Kingdom; GD Grenada; GE Georgia; GF French Guiana; "
    "GG Guernsey; GH Ghana; GI Gibraltar; GL Greenland; GM Gambia; GN Guinea; GP Guadeloupe; GQ Equatorial "
    "Guinea; GR Greece; GS South Georgia and the South Sandwich Islands; GT Guatemala; GU Guam; GW "
    "Guinea-Bissau; GY Guyana; HK Hong Kong; HM Heard Island and McDonald Islands; HN Honduras; HR Croatia; "
    "HT Haiti; HU Hungary; ID Indonesia; IE Ireland; IL Israel; IM Isle of Man; IN India; IO British Indian "
    "Ocean Territory; IQ Iraq; IR Iran; IS Iceland; IT Italy; JE Jersey; JM Jamaica; JO Jordan; JP Japan; KE "
    "Kenya; KG Kyrgyzstan; KH Cambodia; KI Kiribati; KM Comoros; KN Saint Kitts and Nevis; KP North Korea; KR "
    "South Korea; KW Kuwait; KY Cayman Islands; KZ Kazakhstan; LA Laos; LB Lebanon; LC Saint Lucia; LI "
    "Liechtenstein; LK Sri Lanka; LR Liberia; LS Lesotho; LT Lithuania; LU Luxembourg; LV Latvia; LY Libya; "
    "MA Morocco; MC Monaco; MD Moldova; ME Montenegro; MF Saint Martin (French part); MG Madagascar; MH "
    "Marshall Islands; MK North Macedonia; ML Mali; MM Myanmar; MN Mongolia; MO Macao; MP Northern Mariana "
    "Islands; MQ Martinique; MR Mauritania; MS Montserrat; MT Malta; MU Mauritius; MV Maldives; MW Malawi; MX "
    "Mexico; MY Malaysia; MZ Mozambique; NA Namibia; NC New Caledonia; NE Niger; NF Norfolk Island; NG "
    "Nigeria; NI Nicaragua; NL Netherlands; NO Norway; NP Nepal; NR Nauru; NU Niue; NZ New Zealand; OM Oman; "
    "PA Panama; PE Peru; PF French Polynesia; PG Papua New Guinea; PH Philippines; PK Pakistan; PL Poland; PM "
    "Saint Pierre and Miquelon; PN Pitcairn; PR Puerto Rico; PS Palestine, State of; PT Portugal; PW Palau; "
    "PY Paraguay; QA Qatar; RE Réunion; RO Romania; RS Serbia; RU Russian Federation; RW Rwanda; SA Saudi "
    "Arabia; SB Solomon Islands; SC Seychelles; SD Sudan; SE Sweden; SG Singapore; SH Saint Helena, Ascension "
    "and Tristan da Cunha; SI Slovenia; SJ Svalbard and Jan Mayen; SK Slovakia; SL Sierra Leone; SM San "
    "Marino; SN Senegal; SO Somalia; SR Suriname; SS South Sudan; ST Sao Tome and Principe; SV El Salvador; "
    "SX Sint Maarten (Dutch part); SY Syria; SZ Eswatini; TC Turks and Caicos Islands; TD Chad; TF French "
    "Southern Territories; TG Togo; TH Thailand; TJ Tajikistan; TK Tokelau; TL Timor-Leste; TM Turkmenistan; "
    "TN Tunisia; TO Tonga; TR Türkiye; TT Trinidad and Tobago; TV Tuvalu; TW Taiwan; TZ Tanzania; UA Ukraine; "
    "UG Uganda; UM United States Minor Outlying Islands; US United States; UY Uruguay; UZ Uzbekistan; VA Holy "
    "See (Vatican City State); VC Saint Vincent and the Grenadines; VE Venezuela; VG Virgin Islands, British; "
    "VI Virgin Islands, U.S.; VN Vietnam; VU Vanuatu; WF Wallis and Futuna; WS Samoa; YE Yemen; YT Mayotte; "
    "ZA South Africa; ZM Zambia; ZW Zimbabwe"
)

_LANGUAGES = (
    "aa Afar; ab Abkhazian; ae Avestan; af Afrikaans; ak Akan; am Amharic; an Aragonese; ar Arabic; as "
    "Assamese; av Avaric; ay Aymara; az Azerbaijani; ba Bashkir; be Belarusian; bg Bulgarian; bh Bihari "
    "languages; bi Bislama; bm Bambara; bn Bengali; bo Tibetan; br Breton; bs Bosnian; ca Catalan; ce "
    "Chechen; ch Chamorro; co Corsican; cr Cree; cs Czech; cu Church Slavic; cv Chuvash; cy Welsh; da Danish; "
    "de German; dv Divehi; dz Dzongkha; ee Ewe; el Greek, Modern (1453-); en English; eo Esperanto; es "
    "Spanish; et Estonian; eu Basque; fa Persian; ff Fulah; fi Finnish; fj Fijian; fo Faroese; fr French; fy "
    "Western Frisian; ga Irish; gd Gaelic; gl Galician; gn Guarani; gu Gujarati; gv Manx; ha Hausa; he "
    "Hebrew; hi Hindi; ho Hiri Motu; hr Croatian; ht Haitian; hu Hungarian; hy Armenian; hz Herero; ia "
    "Interlingua (International Auxiliary Language Association); id Indonesian; ie Interlingue; ig Igbo; ii "
    "Sichuan Yi; ik Inupiaq; io Ido; is Icelandic; it Italian; iu Inuktitut; ja Japanese; jv Javanese; ka "
    "Georgian; kg Kongo; ki Kikuyu; kj Kuanyama; kk Kazakh; kl Kalaallisut; km Central Khmer; kn Kannada; ko "
    "Korean; kr Kanuri; ks Kashmiri; ku Kurdish; kv Komi; kw Cornish; ky Kirghiz; la Latin; lb Luxembourgish; "
    "lg Ganda; li Limburgan; ln Lingala; lo Lao; lt Lithuanian; lu Luba-Katanga; lv Latvian; mg Malagasy; mh "
    "Marshallese; mi Maori; mk Macedonian; ml Malayalam; mn Mongolian; mr Marathi; ms Malay; mt Maltese; my "
    "Burmese; na Nauru; nb Bokmål, Norwegian; nd Ndebele, North; ne Nepali; ng Ndonga; nl Dutch; nn Norwegian "
    "Nynorsk; no Norwegian; nr Ndebele, South; nv Navajo; ny Chichewa; oc Occitan (post 1500); oj Ojibwa; om "
    "Oromo; or Oriya; os Ossetian; pa Panjabi; pi Pali; pl Polish; ps Pushto; pt Portuguese; qu Quechua; rm "
    "Romansh; rn Rundi; ro Romanian; ru Russian; rw Kinyarwanda; sa Sanskrit; sc Sardinian; sd Sindhi; se "
    "Northern Sami; sg Sango; si Sinhala; sk Slovak; sl Slovenian; sm Samoan; sn Shona; so Somali; sq "
    "Albanian; sr Serbian; ss Swati; st Sotho, Southern; su Sundanese; sv Swedish; sw Swahili; ta Tamil; te "
    "Telugu; tg Tajik; th Thai; ti Tigrinya; tk Turkmen; tl Tagalog; tn Tswana; to Tonga (Tonga Islands); tr "
    "Turkish; ts Tsonga; tt Tatar; tw Twi; ty Tahitian; ug Uighur; uk Ukrainian; ur Urdu; uz Uzbek; ve Venda; "
    "vi Vietnamese; vo Volapük; wa Walloon; wo Wolof; xh Xhosa; yi Yiddish; yo Yoruba; za Zhuang; zh Chinese; "
    "zu Zulu"
)


def _codes(table: str) -> dict[str, str]:
    return dict(entry.split(" ", 1) for entry in table.split("; "))


#: code -> English name, in code order (the doors sort them by name for their pickers).
COUNTRIES: dict[str, str] = _codes(_COUNTRIES)
LANGUAGES: dict[str, str] = _codes(_LANGUAGES)
