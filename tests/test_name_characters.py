"""One validator keeps control and invisible formatting characters out of names and
references: in full_clean(), the admin forms and, through both, every service."""

from __future__ import annotations

import unicodedata

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.models import (
    Agency,
    Case,
    Consent,
    Family,
    Person,
    PersonName,
    RepatriationOperation,
    validate_printable_text,
)
from programmes.models import Programme, StageType
from tests import factories as f
from tests.conftest import force_login

ZWNJ, ZWJ = "\u200c", "\u200d"
BIDI_OVERRIDE = "\u202e"

# Every field that holds a name, a label or a reference.
GUARDED_FIELDS = [
    (Person, "given_name"),
    (Person, "family_name"),
    (Person, "patronymic"),
    (Person, "place_of_birth"),
    (PersonName, "full_name"),
    (Family, "reference"),
    (Family, "label"),
    (Case, "reference"),
    (Agency, "name"),
    (Agency, "code"),
    (RepatriationOperation, "name"),
    (RepatriationOperation, "origin_camp"),
    (Consent, "guardian_name"),
    (Programme, "name"),
    (StageType, "name"),
]


@pytest.mark.parametrize(("model", "field"), GUARDED_FIELDS, ids=lambda value: getattr(value, "__name__", value))
@pytest.mark.parametrize("character", [BIDI_OVERRIDE, "\u200b", "\n", "\x1b", "\u2028"])
def test_names_and_references_with_control_or_format_characters_are_refused_by_full_clean(model, field, character):
    instance = model(**{field: f"Sample{character}name"})
    with pytest.raises(ValidationError) as refused:
        instance.clean_fields()
    assert field in refused.value.message_dict
    assert not any("Sample" in message for message in refused.value.message_dict[field])


@pytest.mark.django_db
def test_a_person_with_a_bidi_override_in_a_name_is_refused_by_full_clean():
    person = f.PersonFactory()
    person.family_name = f"Samplova{BIDI_OVERRIDE}"
    with pytest.raises(ValidationError) as refused:
        person.full_clean()
    assert list(refused.value.message_dict) == ["family_name"]
    name = PersonName(person=person, full_name=f"Aisha{ZWNJ}Samplova\u200b", script="latin", kind="spelling")
    with pytest.raises(ValidationError) as refused:
        name.full_clean()
    assert list(refused.value.message_dict) == ["full_name"]


@pytest.mark.django_db
def test_names_with_control_or_format_characters_are_refused_in_the_admin_person_form(client, administrator):
    force_login(client, administrator)
    data = {
        "given_name": f"Testgiven{BIDI_OVERRIDE}",
        "family_name": "Samplova",
        "patronymic": "",
        "sex": "female",
        "date_of_birth": "2015-04-01",
        "place_of_birth": "",
        "nationality": "KZ",
        "languages": '["ar"]',
        "names-TOTAL_FORMS": "1",
        "names-INITIAL_FORMS": "0",
        "names-0-full_name": "Айша\u200bСэмплова",
        "names-0-script": "cyrillic",
        "names-0-kind": "spelling",
    }
    for prefix in ("identifiers", "family_memberships"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = client.post(reverse("admin:casework_person_add"), data)
    assert response.status_code == 200
    assert response.content.decode().count("Remove the line breaks, tabs and invisible formatting") == 2
    assert not Person.objects.exists()


# --- the rule, for any name ----------------------------------------------------------------

KAZAKH = "ӘәҒғҚқҢңӨөҰұҮүҺһІі"
NAME_LETTERS = st.one_of(
    st.characters(min_codepoint=0x0621, max_codepoint=0x064A),  # Arabic letters
    st.characters(min_codepoint=0x0410, max_codepoint=0x044F),  # Cyrillic (Russian) letters
    st.sampled_from(KAZAKH),
    st.characters(min_codepoint=ord("A"), max_codepoint=ord("Z")),
    st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")),
    st.characters(min_codepoint=0x00C0, max_codepoint=0x00FF).filter(str.isalpha),  # Latin with accents
    st.sampled_from(" -'’" + ZWNJ + ZWJ),
)
NAMES = st.text(alphabet=NAME_LETTERS, min_size=1, max_size=150)
REFUSED_CHARACTERS = st.characters(categories=["Cc", "Cf", "Zl", "Zp"]).filter(lambda c: c not in (ZWNJ, ZWJ))


@settings(max_examples=300, deadline=None)
@given(name=NAMES)
def test_names_in_arabic_cyrillic_and_latin_letters_with_joiners_are_accepted(name):
    validate_printable_text(name)
    PersonName(full_name=name, script="other", kind="spelling").clean_fields(exclude=["person"])


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(alphabet=NAME_LETTERS, max_size=40),
    character=REFUSED_CHARACTERS,
    after=st.text(alphabet=NAME_LETTERS, max_size=40),
)
def test_any_name_with_a_control_or_format_character_is_refused(before, character, after):
    assert unicodedata.category(character) in {"Cc", "Cf", "Zl", "Zp"}
    with pytest.raises(ValidationError) as refused:
        validate_printable_text(before + character + after)
    assert refused.value.code == "control_characters"
    with pytest.raises(ValidationError):
        PersonName(full_name=before + character + after, script="other", kind="spelling").clean_fields(
            exclude=["person"]
        )


def test_the_validator_keeps_zwnj_and_zwj_alone():
    validate_printable_text(ZWNJ)
    validate_printable_text(ZWJ)
    validate_printable_text("می" + ZWNJ + "خواهم")
