"""The duplicate check at intake: is the person being recorded already on file?

One rule, with its thresholds, here. A recorded person is a candidate when:

- one of the identifiers given has the same keyed digest as one of theirs
  (``casework.models.identifier_digest``): a candidate whatever the rest; or
- they have the same sex, a date of birth within the tolerance (wider when
  either date is an estimate), and a similar name.

Names are compared on their folded Latin tokens (``casework.names``), in any
order (documents put the surname first), as given and in every other spelling
given, against the person's primary name and their plain spellings (never
their former names or aliases: a match on those would tell who bore them).
Each token of the name given is paired with its most similar token of the name
on file (rapidfuzz); two tokens that sound the same (jellyfish's Metaphone) and
are not far apart in writing count as the same name ("Muhammad"/"Mohammed",
"Omar"/"Umar"), and a token written in Arabic script, without its short
vowels, is compared by its consonants. "Hasan" and "Husein" sound alike to
Metaphone but are different names, which is why sounding alike is not enough.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import jellyfish
import numpy
from django.db.models import QuerySet
from rapidfuzz import fuzz, process

from casework.models import (
    SENSITIVE_NAME_KINDS,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    identifier_digest,
)
from casework.names import SKELETON_MARK, name_key, name_tokens, skeleton
from casework.selectors import case_visible_to, family_visible_to, person_visible_to

#: Mean similarity of the name's tokens for a candidate.
NAME_THRESHOLD = 0.85
#: Every token of the name given must be at least this similar to one on file.
TOKEN_FLOOR = 0.7
#: Two tokens that sound the same count as this similar, if their writing is close enough.
SOUNDS_ALIKE = 0.9
SOUNDS_ALIKE_MIN_WRITING = 0.7
#: A token without vowels (Arabic script) with the same consonants as one on file.
SAME_CONSONANTS = 0.9

#: Dates of birth: both exact, within a month (or day and month swapped); either estimated, within two years.
EXACT_DATE_TOLERANCE = datetime.timedelta(days=31)
ESTIMATED_DATE_TOLERANCE = datetime.timedelta(days=2 * 365 + 1)
#: Tokens compared with the vocabulary in one ``cdist`` (a matrix of bytes), and its threads.
_PREPARE_CHUNK = 256
_PREPARE_WORKERS = 2
#: Below this many people, the others of a name's tokens are looked for in each one's own.
_FEW_PEOPLE = 256
#: At most this many candidates, best first: a warning, not a search.
MAX_CANDIDATES = 10
#: How much a date that is near but not the same lowers the score.
NEAR_DATE_FACTOR = 0.9
ESTIMATED_DATE_FACTOR = 0.8


def _written_without_short_vowels(token: str) -> bool:
    """A token transliterated from Arabic script: its only vowels are the long ones
    (alif, waw, ya), so it has far fewer vowels than consonants ("brhim", "mhmd")."""
    vowels = sum(1 for letter in token if letter in "aeiou")
    return vowels * 2 <= len(token) - vowels


def token_similarity(given: str, on_file: str) -> float:
    """How alike two folded name tokens are, from 0 to 1."""
    if given == on_file:
        return 1.0
    writing = fuzz.ratio(given, on_file) / 100
    similarity = writing
    if writing >= SOUNDS_ALIKE_MIN_WRITING and jellyfish.metaphone(given) == jellyfish.metaphone(on_file):
        similarity = max(similarity, SOUNDS_ALIKE)
    given_consonants, on_file_consonants = skeleton(given), skeleton(on_file)
    from_arabic = _written_without_short_vowels(given) or _written_without_short_vowels(on_file)
    if from_arabic and len(given_consonants) >= 2 and given_consonants == on_file_consonants:
        similarity = max(similarity, SAME_CONSONANTS)
    return similarity


def name_similarity(given: list[str], on_file: list[str]) -> float:
    """Mean similarity of each given token to its own best partner on file (each used once);
    0 when a given token has no partner at least ``TOKEN_FLOOR`` alike."""
    if not given or not on_file:
        return 0.0
    pairs = sorted(
        ((token_similarity(a, b), i, j) for i, a in enumerate(given) for j, b in enumerate(on_file)), reverse=True
    )
    best: dict[int, float] = {}
    used: set[int] = set()
    for similarity, i, j in pairs:
        if i in best or j in used:
            continue
        best[i] = similarity
        used.add(j)
    scores = [best.get(i, 0.0) for i in range(len(given))]
    if min(scores) < TOKEN_FLOOR:
        return 0.0
    return sum(scores) / len(scores)


def date_factor(given: datetime.date, estimated: bool, on_file: datetime.date, on_file_estimated: bool):
    """(factor, reason) for two dates of birth, or None when too far apart."""
    if given == on_file:
        return 1.0, "same date of birth"
    if estimated or on_file_estimated:
        if abs(given - on_file) <= ESTIMATED_DATE_TOLERANCE:
            return ESTIMATED_DATE_FACTOR, "estimated date of birth within two years"
        return None
    swapped = given.day <= 12 and given.replace(month=given.day, day=given.month) == on_file
    if swapped or abs(given - on_file) <= EXACT_DATE_TOLERANCE:
        return NEAR_DATE_FACTOR, "date of birth within a month"
    return None


def _tokens_of_key(key: str) -> list[str]:
    return [token for token in key.split() if not token.startswith(SKELETON_MARK)]


class PeopleOnFile:
    """The people of a queryset with their names, read once, to check many people
    against them (a cohort import) by the rule of ``duplicate_candidates``.

    ``candidates`` first keeps only the people who have, for every token of the name
    given, a token at least ``TOKEN_FLOOR`` alike in writing or with the same consonants
    (without that, ``name_similarity`` is 0), found through an index of the tokens on
    file; it then scores those as ``duplicate_candidates`` does. ``add`` takes in the
    people registered meanwhile."""

    def __init__(self, among: QuerySet[Person]):
        #: pk -> (sex, date of birth, estimated)
        self.people: dict[int, tuple[str, datetime.date, bool]] = {}
        self.names: dict[int, list[list[str]]] = defaultdict(list)
        self._tokens_of: dict[int, set[str]] = defaultdict(set)
        self._holders: dict[str, set[int]] = defaultdict(set)
        self._by_skeleton: dict[str, set[str]] = defaultdict(set)
        self._vocabulary: list[str] = []
        #: token given -> the tokens on file that may be ``TOKEN_FLOOR`` alike to it
        self._alike: dict[str, set[str]] = {}
        #: token given -> how many people held its alike tokens when first asked
        self._weight: dict[str, int] = {}
        #: token given -> the size of the vocabulary when its alike tokens were last worked out
        self._seen: dict[str, int] = {}
        #: People added since (``add``), and the answers about the people read first.
        self._recent: PeopleOnFile | None = None
        self._answers: dict[tuple, dict[int, tuple[float, list[str]]]] = {}
        rows = among.order_by().values_list("pk", "sex", "date_of_birth", "date_of_birth_estimated", "search_key")
        for pk, sex, born, estimated, key in rows.iterator(chunk_size=5000):
            self._add_person(pk, sex, born, estimated, [key])
        spellings = (
            PersonName.objects.filter(person_id__in=among.order_by().values("pk"))
            .exclude(kind__in=SENSITIVE_NAME_KINDS)
            .order_by()
            .values_list("person_id", "search_key")
        )
        for person_id, key in spellings.iterator(chunk_size=5000):
            if person_id in self.people:
                self._add_name(person_id, key)

    @classmethod
    def empty(cls) -> PeopleOnFile:
        """An index of no one yet, for people added one by one."""
        return cls(Person.objects.none())

    def _add_person(self, pk, sex, born, estimated, keys) -> None:
        self.people[pk] = (sex, born, estimated)
        for key in keys:
            self._add_name(pk, key)

    def _add_name(self, pk: int, key: str) -> None:
        tokens = _tokens_of_key(key)
        self.names[pk].append(tokens)
        self._tokens_of[pk].update(tokens)
        for token in tokens:
            if token not in self._holders:
                self._new_token(token)
            self._holders[token].add(pk)

    def _new_token(self, token: str) -> None:
        self._vocabulary.append(token)
        self._by_skeleton[skeleton(token)].add(token)

    def prepare(self, names: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        """Find at once the tokens on file alike to every token of ``names`` (given name,
        family name, other spellings), as ``candidates`` would one by one: the people of
        a whole file are then checked without a search of the vocabulary each."""
        tokens = {
            token
            for given_name, family_name, spellings in names
            for name in _spellings(given_name, family_name, spellings)
            for token in name
        }
        tokens = sorted(token for token in tokens if token not in self._alike)
        if not tokens or not self._vocabulary:
            for token in tokens:
                self._alike_on_file(token)
            return
        for start in range(0, len(tokens), _PREPARE_CHUNK):
            chunk = tokens[start : start + _PREPARE_CHUNK]
            scores = process.cdist(
                chunk,
                self._vocabulary,
                scorer=fuzz.ratio,
                score_cutoff=TOKEN_FLOOR * 100,
                dtype=numpy.uint8,
                workers=_PREPARE_WORKERS,
            )
            for token, row in zip(chunk, scores, strict=True):
                # ``cdist`` gives 0 below the cutoff; the ratio is rounded down to a whole number.
                alike = {self._vocabulary[position] for position in numpy.flatnonzero(row)}
                self._remember(token, alike)

    def add(self, person: Person, spellings: Iterable[str] = ()) -> None:
        """A person recorded since (their primary name and the plain spellings given).

        The people read first stay as they were, so that the answers about them are
        kept (a person checked twice, as an import checks its rows before and while
        registering them, is compared with them once); those added are in an index of
        their own, asked every time."""
        keys = [person.search_key or name_key(person.full_name)]
        keys += [name_key(spelling) for spelling in spellings if spelling]
        if self._recent is None:
            self._recent = PeopleOnFile.empty()
        self._recent._add_person(person.pk, person.sex, person.date_of_birth, person.date_of_birth_estimated, keys)

    def _alike_on_file(self, token: str) -> set[str]:
        """The tokens on file that may be ``TOKEN_FLOOR`` alike to ``token``: as alike
        in writing, or with the same consonants. Worked out once, then only against the
        tokens that came on file since (``add``)."""
        if token not in self._alike:
            self._remember(token, self._alike_among(token, self._vocabulary))
        elif self._seen[token] < len(self._vocabulary):
            since = self._vocabulary[self._seen[token] :]
            consonants = skeleton(token)
            self._alike[token] |= self._alike_among(token, since)
            self._alike[token].update(match for match in since if skeleton(match) == consonants)
            self._seen[token] = len(self._vocabulary)
            self._weight[token] = sum(len(self._holders[match]) for match in self._alike[token])
        return self._alike[token]

    @staticmethod
    def _alike_among(token: str, tokens: list[str]) -> set[str]:
        return {
            match
            for match, _score, _position in process.extract(
                token, tokens, scorer=fuzz.ratio, score_cutoff=TOKEN_FLOOR * 100, limit=None
            )
        }

    def _remember(self, token: str, alike: set[str]) -> None:
        alike |= self._by_skeleton.get(skeleton(token), set())
        self._alike[token] = alike
        self._seen[token] = len(self._vocabulary)
        # How many people hold them: the rarest token of a name is looked up first.
        self._weight[token] = sum(len(self._holders[match]) for match in alike)

    def _may_be(self, tokens: list[str], sex: str, date_of_birth: datetime.date) -> set[int]:
        """The people of ``sex`` born near ``date_of_birth`` with, for each of ``tokens``,
        a token on file that may be alike: the holders of the tokens alike to the most
        distinctive one, then a look at each one's own tokens for the others."""
        for token in tokens:
            self._alike_on_file(token)
        ordered = sorted(tokens, key=self._weight.__getitem__)
        found = self._holders_of(ordered[0])
        others = []
        for token in ordered[1:]:
            if len(found) <= _FEW_PEOPLE:
                others.append(self._alike[token])
            else:
                # Many people hold a token alike to this one (a common given name or
                # ending): the people holding one alike to the next, as a set operation.
                found = found & self._holders_of(token)
        kept = set()
        for pk in found:
            on_file_sex, on_file_date, _estimated = self.people[pk]
            if on_file_sex != sex or abs(on_file_date - date_of_birth) > ESTIMATED_DATE_TOLERANCE:
                continue
            mine = self._tokens_of[pk]
            if all(not matches.isdisjoint(mine) for matches in others):
                kept.add(pk)
        return kept

    def _holders_of(self, token: str) -> set[int]:
        """The people holding a token alike to ``token``."""
        return set().union(*(self._holders[match] for match in self._alike[token]))

    def candidates(
        self,
        *,
        given_name: str,
        family_name: str,
        date_of_birth: datetime.date,
        estimated: bool,
        sex: str,
        other_spellings: Iterable[str] = (),
    ) -> dict[int, tuple[float, list[str]]]:
        """person id -> (score, reasons) of the people on file who may be the person described."""
        spellings = _spellings(given_name, family_name, other_spellings)
        if not date_of_birth or not spellings:
            return {}
        key = (tuple(map(tuple, spellings)), date_of_birth, estimated, sex)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self._candidates(spellings, date_of_birth, estimated, sex)
        if self._recent is None:
            return dict(found)
        found = dict(found)
        for pk, scored in self._recent._candidates(spellings, date_of_birth, estimated, sex).items():
            if pk not in found or scored[0] > found[pk][0]:
                found[pk] = scored
        return found

    def _candidates(self, spellings, date_of_birth, estimated, sex) -> dict[int, tuple[float, list[str]]]:
        ids: set[int] = set()
        for tokens in spellings:
            ids |= self._may_be(tokens, sex, date_of_birth)
        found = {}
        for pk in ids:
            _sex, on_file_date, on_file_estimated = self.people[pk]
            scored = _score(spellings, date_of_birth, estimated, on_file_date, on_file_estimated, self.names[pk])
            if scored is not None:
                found[pk] = scored
        return found


def _spellings(given_name: str, family_name: str, other_spellings: Iterable[str]) -> list[list[str]]:
    spellings = [name_tokens(f"{given_name} {family_name}")]
    spellings += [name_tokens(spelling) for spelling in other_spellings if spelling and spelling.strip()]
    return [tokens for tokens in spellings if tokens]


def _score(spellings, date_of_birth, estimated, on_file_date, on_file_estimated, names_on_file):
    """(score, reasons) of one person on file, or None when they are not a candidate."""
    dates = date_factor(date_of_birth, estimated, on_file_date, on_file_estimated)
    if dates is None or not names_on_file:
        return None
    similarity = max(name_similarity(given, recorded) for given in spellings for recorded in names_on_file)
    if similarity < NAME_THRESHOLD:
        return None
    factor, date_reason = dates
    name_reason = "same name" if similarity == 1.0 else "similar name"
    return round(similarity * factor, 3), [name_reason, date_reason]


def duplicate_candidates(
    *,
    given_name: str,
    family_name: str,
    date_of_birth: datetime.date,
    estimated: bool,
    sex: str,
    identifiers: Iterable[str] = (),
    other_spellings: Iterable[str] = (),
    among: QuerySet[Person] | None,
    identifiers_among: QuerySet[Person] | None = None,
    on_file: PeopleOnFile | None = None,
) -> list[tuple[Person, float, tuple[str, ...]]]:
    """People of ``among`` who may be the person described, best first, as (person, score, reasons).

    ``identifiers_among`` (default ``among``) limits who is matched by identifier: pass
    the people whose identifiers the user may see, so that the warning tells nothing
    about anyone else's documents. ``on_file``, the people of ``among`` read once,
    spares the query of their names when many people are checked in a row.
    """
    found: dict[int, tuple[float, list[str]]] = {}

    digests = {identifier_digest(value) for value in identifiers if value and str(value).strip()}
    if digests:
        holders = PersonIdentifier.objects.filter(
            value_digest__in=digests,
            person_id__in=(identifiers_among if identifiers_among is not None else among).values("pk"),
        ).values_list("person_id", flat=True)
        for person_id in holders:
            found[person_id] = (1.0, ["same identifier"])

    if date_of_birth and _spellings(given_name, family_name, other_spellings):
        if on_file is None:
            window = (date_of_birth - ESTIMATED_DATE_TOLERANCE, date_of_birth + ESTIMATED_DATE_TOLERANCE)
            on_file = PeopleOnFile(among.filter(sex=sex, date_of_birth__range=window))
        by_name = on_file.candidates(
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            estimated=estimated,
            sex=sex,
            other_spellings=other_spellings,
        )
        for pk, (score, reasons) in by_name.items():
            if pk in found:
                found[pk] = (1.0, [*found[pk][1], *reasons])
            else:
                found[pk] = (score, reasons)

    if not found:
        return []
    ranked = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))[:MAX_CANDIDATES]
    people = Person.objects.in_bulk([pk for pk, _ in ranked])
    return [(people[pk], score, tuple(reasons)) for pk, (score, reasons) in ranked if pk in people]


def _references(ids: list[int], user) -> tuple[dict[int, str], dict[int, str]]:
    """(person -> latest case reference, person -> family reference), only those ``user`` may see."""
    case_of: dict[int, str] = {}
    for person_id, reference in (
        case_visible_to(user)
        .filter(person_id__in=ids)
        .order_by("-opened_on", "reference")
        .values_list("person_id", "reference")
    ):
        case_of.setdefault(person_id, reference)
    family_of: dict[int, str] = {}
    for person_id, reference in (
        FamilyMembership.objects.filter(person_id__in=ids, family_id__in=family_visible_to(user).values("pk"))
        .order_by("family__reference")
        .values_list("person_id", "family__reference")
    ):
        family_of.setdefault(person_id, reference)
    return case_of, family_of


def _born(person: Person) -> str:
    year = f"~{person.date_of_birth.year}" if person.date_of_birth_estimated else str(person.date_of_birth.year)
    return f"born {year}"


def distinguishing_details(people: Iterable[Person], *, user) -> dict[int, str]:
    """What tells apart people of the same name, for pickers and the duplicate warning:
    birth year ("~1990" when estimated) and a case or family reference, only the
    references ``user`` may see. Two queries for any number of people."""
    people = list(people)
    case_of, family_of = _references([person.pk for person in people], user)
    details = {}
    for person in people:
        parts = [_born(person)]
        if person.pk in case_of:
            parts.append(f"case {case_of[person.pk]}")
        elif person.pk in family_of:
            parts.append(f"family {family_of[person.pk]}")
        else:
            parts.append(f"record {person.pk}")
        details[person.pk] = ", ".join(parts)
    return details


@dataclass(frozen=True)
class SeenCandidate:
    """A possible duplicate as the user may see it, beside the person being recorded."""

    person: Person
    #: The primary name, then the plain spellings (never former names or aliases).
    names: list[str]
    #: "born 1990", "born ~1990" when estimated.
    born: str
    case_reference: str | None
    family_reference: str | None


def candidates_seen_by(user, person_ids: Iterable[int | None]) -> dict[int, SeenCandidate]:
    """The candidates of a duplicate warning that ``user`` may see, with what tells them
    apart: names in every script, birth year, and the case and family references the
    user may see. Anyone else is left out. Four queries for any number of people."""
    ids = {pk for pk in person_ids if pk is not None}
    people = list(person_visible_to(user).filter(pk__in=ids).prefetch_related("names"))
    case_of, family_of = _references([person.pk for person in people], user)
    return {
        person.pk: SeenCandidate(
            person=person,
            names=[person.full_name]
            + [name.full_name for name in person.names.all() if name.kind not in SENSITIVE_NAME_KINDS],
            born=_born(person),
            case_reference=case_of.get(person.pk),
            family_reference=family_of.get(person.pk),
        )
        for person in people
    }
