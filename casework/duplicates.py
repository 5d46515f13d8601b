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

import jellyfish
from django.db.models import QuerySet
from rapidfuzz import fuzz

from casework.models import (
    SENSITIVE_NAME_KINDS,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    identifier_digest,
)
from casework.names import SKELETON_MARK, name_tokens, skeleton
from casework.selectors import case_visible_to, family_visible_to

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


def duplicate_candidates(
    *,
    given_name: str,
    family_name: str,
    date_of_birth: datetime.date,
    estimated: bool,
    sex: str,
    identifiers: Iterable[str] = (),
    other_spellings: Iterable[str] = (),
    among: QuerySet[Person],
    identifiers_among: QuerySet[Person] | None = None,
) -> list[tuple[Person, float, tuple[str, ...]]]:
    """People of ``among`` who may be the person described, best first, as (person, score, reasons).

    ``identifiers_among`` (default ``among``) limits who is matched by identifier: pass
    the people whose identifiers the user may see, so that the warning tells nothing
    about anyone else's documents.
    """
    spellings = [name_tokens(f"{given_name} {family_name}")]
    spellings += [name_tokens(spelling) for spelling in other_spellings if spelling and spelling.strip()]
    spellings = [tokens for tokens in spellings if tokens]

    found: dict[int, tuple[float, list[str]]] = {}

    digests = {identifier_digest(value) for value in identifiers if value and str(value).strip()}
    if digests:
        holders = PersonIdentifier.objects.filter(
            value_digest__in=digests,
            person_id__in=(identifiers_among if identifiers_among is not None else among).values("pk"),
        ).values_list("person_id", flat=True)
        for person_id in holders:
            found[person_id] = (1.0, ["same identifier"])

    if date_of_birth and spellings:
        window = (date_of_birth - ESTIMATED_DATE_TOLERANCE, date_of_birth + ESTIMATED_DATE_TOLERANCE)
        nearby = list(
            among.filter(sex=sex, date_of_birth__range=window)
            .order_by()
            .values_list("pk", "search_key", "date_of_birth", "date_of_birth_estimated")
        )
        names_on_file: dict[int, list[list[str]]] = defaultdict(list)
        for pk, key, _, _ in nearby:
            names_on_file[pk].append(_tokens_of_key(key))
        plain_spellings = (
            PersonName.objects.filter(person_id__in=[row[0] for row in nearby])
            .exclude(kind__in=SENSITIVE_NAME_KINDS)
            .values_list("person_id", "search_key")
        )
        for person_id, key in plain_spellings:
            names_on_file[person_id].append(_tokens_of_key(key))
        for pk, _, on_file_date, on_file_estimated in nearby:
            dates = date_factor(date_of_birth, estimated, on_file_date, on_file_estimated)
            if dates is None:
                continue
            similarity = max(name_similarity(given, recorded) for given in spellings for recorded in names_on_file[pk])
            if similarity < NAME_THRESHOLD:
                continue
            factor, date_reason = dates
            name_reason = "same name" if similarity == 1.0 else "similar name"
            score = round(similarity * factor, 3)
            if pk in found:
                found[pk] = (1.0, [*found[pk][1], name_reason, date_reason])
            else:
                found[pk] = (score, [name_reason, date_reason])

    if not found:
        return []
    ranked = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))[:MAX_CANDIDATES]
    people = Person.objects.in_bulk([pk for pk, _ in ranked])
    return [(people[pk], score, tuple(reasons)) for pk, (score, reasons) in ranked if pk in people]


def distinguishing_details(people: Iterable[Person], *, user) -> dict[int, str]:
    """What tells apart people of the same name, for pickers and the duplicate warning:
    birth year ("~1990" when estimated) and a case or family reference, only the
    references ``user`` may see. Two queries for any number of people."""
    people = list(people)
    ids = [person.pk for person in people]
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
    details = {}
    for person in people:
        year = f"~{person.date_of_birth.year}" if person.date_of_birth_estimated else str(person.date_of_birth.year)
        parts = [f"born {year}"]
        if person.pk in case_of:
            parts.append(f"case {case_of[person.pk]}")
        elif person.pk in family_of:
            parts.append(f"family {family_of[person.pk]}")
        else:
            parts.append(f"record {person.pk}")
        details[person.pk] = ", ".join(parts)
    return details
