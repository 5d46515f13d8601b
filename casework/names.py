"""Name matching across scripts and spellings.

A name is reduced to folded Latin tokens: transliterated (Cyrillic, Kazakh
Latin and Cyrillic, Arabic), lower-cased, with the usual variants of one sound
made the same, so that "Айша", "Aysha", "Ayşa" and "Aisha" all become "aisha";
"Хадиджа" and "Khadija" become "hadija". Each token also has a consonant
skeleton ("muhammad", "mohammed" and "мухаммед" all give "mhmd"; "ибрагим"
and "ibrahim" give "brhm"), which is how names written in Arabic script are
found: their short vowels are not written, so only the skeleton is comparable.

The stored key (``Person.search_key``, ``PersonName.search_key``) holds both,
space-delimited at each end so that a search matches whole tokens or token
prefixes, never the inside of a token: " aisha fiktieva ~sh ~fktv ".
``name_search_condition`` builds the matching condition for a search term:

- every word of the term must match one token of the name, in any order
  (documents put the surname first: "Фиктиева Айша" finds "Aisha Fiktieva");
- a word in Latin or Cyrillic matches a token it begins ("Fikt" finds
  "Fiktieva"), or a token with the same skeleton when that skeleton has at
  least three consonants (spelling variants of longer names);
- a word in Arabic script matches only a token with exactly the same skeleton:
  "عمر" (Omar, "mr") must not find every Mariam ("mrm").

Changing what ``name_tokens`` or ``name_key`` return changes stored keys: add a
migration that recomputes them (see casework/migrations/0010).
"""

from __future__ import annotations

import functools
import re

from anyascii import anyascii
from django.db.models import Q

# Kazakh Latin (2021 alphabet) and Turkish letters whose plain transliteration
# loses a sound that the Cyrillic and English spellings keep ("Ayşa" is "Aysha").
_BEFORE_TRANSLITERATION = str.maketrans({"ş": "sh", "Ş": "Sh", "ç": "ch", "Ç": "Ch", "ñ": "ng", "Ñ": "Ng"})

# Applied in order, after transliteration.
_FOLDS = (("dzh", "j"), ("kh", "h"), ("q", "k"), ("y", "i"), ("ou", "u"), ("w", "v"), ("ph", "f"))

_VOWELS = re.compile(r"[aeiou]")
_ARABIC_LETTER = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")

#: A Latin or Cyrillic word matches by skeleton only when it has this many consonants:
#: shorter skeletons ("mr", "sh") are shared by too many unrelated names.
MIN_SKELETON_FOR_VARIANTS = 3

#: Marks skeleton tokens in a stored key.
SKELETON_MARK = "~"


def _fold(token: str) -> str:
    for variant, canonical in _FOLDS:
        token = token.replace(variant, canonical)
    token = re.sub(r"(.)\1+", r"\1", token)
    # A final "h" after a vowel is not heard: "Aishah" is "Aisha".
    if len(token) > 2 and token.endswith("h") and token[-2] in "aeiou":
        token = token[:-1]
    return token


def name_tokens(text: str) -> list[str]:
    """The folded Latin tokens of a name, in their order."""
    return list(_name_tokens(text or ""))


@functools.lru_cache(maxsize=2**16)
def _name_tokens(text: str) -> tuple[str, ...]:
    # Remembered: an import or a duplicate check folds the same names again and again.
    latin = anyascii(text.translate(_BEFORE_TRANSLITERATION)).lower()
    tokens = (_fold(token) for token in re.sub(r"[^a-z ]+", "", latin.replace("-", " ")).split())
    return tuple(token for token in tokens if token)


@functools.lru_cache(maxsize=2**16)
def skeleton(token: str) -> str:
    """The consonants of a folded token, as Arabic script writes them: "g" is the
    Russian rendering of the Arabic "h" ("Ибрагим" is "Ibrahim")."""
    consonants = _VOWELS.sub("", token).replace("g", "h")
    return re.sub(r"(.)\1+", r"\1", consonants)


def is_arabic_script(text: str) -> bool:
    return bool(_ARABIC_LETTER.search(text or ""))


def name_key(text: str, *, max_length: int = 500) -> str:
    """The stored search key of a name: its tokens, then their skeletons (see the module)."""
    tokens = name_tokens(text)
    if not tokens:
        return ""
    skeletons = []
    for token in tokens:
        mark = SKELETON_MARK + skeleton(token)
        if len(mark) > 1 and mark not in skeletons:
            skeletons.append(mark)
    parts = [*tokens, *skeletons]
    key = " "
    for part in parts:
        if len(key) + len(part) + 1 > max_length:
            break
        key += part + " "
    return key if key.strip() else ""


def name_search_condition(term: str, field: str) -> Q | None:
    """The condition on a stored key field (e.g. "search_key", "names__search_key")
    that finds a name by ``term``; None when the term holds no name."""
    tokens = name_tokens(term)
    if not tokens:
        return None
    arabic = is_arabic_script(term)
    condition = Q()
    for token in tokens:
        token_skeleton = skeleton(token)
        by_skeleton = Q(**{f"{field}__contains": f" {SKELETON_MARK}{token_skeleton} "}) if token_skeleton else None
        if arabic:
            if by_skeleton is None:
                return None
            condition &= by_skeleton
            continue
        word = Q(**{f"{field}__contains": f" {token}"})
        if by_skeleton is not None and len(token_skeleton) >= MIN_SKELETON_FOR_VARIANTS:
            word |= by_skeleton
        condition &= word
    return condition
