"""Name matching across scripts and spellings.

A name's search key is its Latin transliteration, lower-cased and folded so
that the usual variants of the same name meet: "Айша", "Aysha" and "Aisha"
all become "aisha"; "Хадиджа" and "Khadija" become "hadija". Names in Arabic
script are transliterated too, but their vowels are not written, so they are
best found through a recorded spelling (every spelling is a ``PersonName``).
"""

import re

from anyascii import anyascii

# Applied in order, after transliteration.
_FOLDS = (("dzh", "j"), ("kh", "h"), ("q", "k"), ("y", "i"), ("ou", "u"), ("w", "v"))


def name_key(text: str) -> str:
    key = re.sub(r"[^a-z ]+", "", anyascii(text or "").lower())
    for variant, canonical in _FOLDS:
        key = key.replace(variant, canonical)
    key = re.sub(r"(.)\1+", r"\1", key)
    return " ".join(key.split())
