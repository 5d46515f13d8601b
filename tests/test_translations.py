"""Complete translations: every string of the project in Russian, Kazakh and Arabic, and no
admin page that shows an English field label to someone reading it in one of those languages."""

import datetime
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

from accounts.models import UserPreference
from casework.models import Case
from programmes.demo import demo_seed
from programmes.models import FollowUp, StageKind, StageRecord, StageType
from tests import factories as f
from tests.conftest import force_login
from tests.test_i18n import TRANSLATED, po_entries

BASE_DIR = Path(settings.BASE_DIR)
# Names written the same way in every language of the admin.
SAME_IN_EVERY_LANGUAGE = {"API"}
LANGUAGE_NAMES = {name for _code, name in settings.LANGUAGES}
PROJECT_APPS = ["accounts", "audit", "casework", "programmes", "justice", "lifecycle", "notifications"]
# How the catalogues are refreshed (then translated, then `compilemessages`; the .mo files are committed).
MAKEMESSAGES = [
    "makemessages",
    *("-l", "ru", "-l", "kk", "-l", "ar"),
    "--add-location=file",
    "--no-obsolete",
    *("-i", ".venv", "-i", "var", "-i", "node_modules", "-i", "tests", "-i", "mutants", "-i", "docs"),
]
NOT_COPIED = shutil.ignore_patterns(
    ".venv", "var", "node_modules", "mutants", ".git", "__pycache__", ".pytest_cache", "staticfiles", "*.mo"
)


def entry_key(entry: dict) -> tuple:
    return entry.get("msgctxt"), entry["msgid"]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """The catalogues as makemessages leaves them for the code as it is now, in a copy of the project."""
    if not (shutil.which("xgettext") and shutil.which("msgmerge")):
        pytest.fail("GNU gettext (xgettext, msgmerge) is needed to check the catalogues")
    copy = tmp_path_factory.mktemp("project") / "project"
    shutil.copytree(BASE_DIR, copy, ignore=NOT_COPIED)
    subprocess.run([sys.executable, "manage.py", *MAKEMESSAGES], cwd=copy, check=True, capture_output=True, timeout=300)
    return copy / "locale"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_of_the_project_is_translated(regenerated, language):
    """A string added to the code without its translations fails here, and so does a translation
    left fuzzy or empty, or a catalogue that still lists strings the code no longer has."""
    committed = po_entries(LOCALE_PATH(BASE_DIR / "locale", language))[1:]
    current = po_entries(LOCALE_PATH(regenerated, language))[1:]

    new = sorted(entry["msgid"] for entry in current if entry_key(entry) not in {entry_key(e) for e in committed})
    assert not new, f"{language}: not in the catalogue yet (run makemessages, translate): {new}"
    gone = sorted(entry["msgid"] for entry in committed if entry_key(entry) not in {entry_key(e) for e in current})
    assert not gone, f"{language}: no longer in the code (run makemessages): {gone}"
    untranslated = [e["msgid"] for e in current if "fuzzy" in e["flags"] or not all(e["msgstr"].values())]
    assert not untranslated, f"{language}: fuzzy or untranslated: {untranslated}"


def LOCALE_PATH(root: Path, language: str) -> Path:  # noqa: N802 - reads as a path
    return root / language / "LC_MESSAGES" / "django.po"


def english_labels() -> set[str]:
    """Every model and field name of the project as the English admin shows it."""
    labels = set()
    with translation.override("en"):
        for app in PROJECT_APPS:
            for model in apps.get_app_config(app).get_models():
                labels |= {capfirst(str(model._meta.verbose_name)), capfirst(str(model._meta.verbose_name_plural))}
                for field in model._meta.get_fields():
                    if hasattr(field, "verbose_name") and not field.auto_created:
                        labels.add(capfirst(str(field.verbose_name)))
    return labels


def library_declared(model, field) -> bool:
    """The field as an abstract model of a library declares it (auditlog's log entry)."""
    for base in model.__mro__[1:]:
        meta = getattr(base, "_meta", None)
        if meta is None or not meta.abstract or base.__module__.split(".")[0] in PROJECT_APPS:
            continue
        try:
            inherited = meta.get_field(field.name)
        except FieldDoesNotExist:
            continue
        with translation.override("en"):
            return str(inherited.verbose_name) == str(field.verbose_name)
    return False


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_model_field_and_choice_has_a_translated_name(language):
    untranslated = []
    for app in PROJECT_APPS:
        for model in apps.get_app_config(app).get_models():
            names = [model._meta.verbose_name, model._meta.verbose_name_plural]
            for field in model._meta.get_fields():
                # Fields a library declares (the audit trail's) come with the library's own catalogue.
                if hasattr(field, "verbose_name") and not field.auto_created and not library_declared(model, field):
                    names.append(field.verbose_name)
                    # The language chooser names each language in that language.
                    names += [label for _value, label in field.flatchoices or () if label not in LANGUAGE_NAMES]
            for name in names:
                with translation.override("en"):
                    english = str(name)
                with translation.override(language):
                    if str(name) == english and english not in SAME_IN_EVERY_LANGUAGE:
                        untranslated.append(f"{model.__name__}: {english}")
    assert not untranslated, sorted(set(untranslated))


# --- admin pages with data like the demo's ----------------------------------------------------

LABEL = re.compile(r"<(label|th)\b[^>]*>(.*?)</\1>", re.S)
TAG = re.compile(r"<[^>]+>")


def shown_labels(body: str) -> set[str]:
    texts = (html.unescape(TAG.sub("", match[2])).strip().rstrip(":").strip() for match in LABEL.finditer(body))
    return {text for text in texts if text}


@pytest.fixture
def demo(db):
    demo_seed(size=12, seed=17, today=datetime.date(2026, 11, 23))
    case = Case.objects.filter(enrolments__stages__follow_ups__isnull=False).order_by("pk").first()
    return {
        "case": case,
        "stage": StageRecord.objects.filter(stage_type__kind=StageKind.HOUSING).order_by("pk").first(),
        "follow_up": FollowUp.objects.order_by("pk").first(),
    }


@pytest.mark.parametrize("language", [*TRANSLATED, "en"])
def test_admin_pages_show_no_english_field_label(client, demo, language):
    administrator = f.UserFactory(username="reader", is_superuser=True)
    UserPreference.objects.create(user=administrator, language=language)
    force_login(client, administrator)
    pages = [
        reverse("admin:casework_case_changelist"),
        reverse("admin:casework_case_change", args=[demo["case"].pk]),
        reverse("admin:programmes_stagerecord_changelist"),
        reverse("admin:programmes_stagerecord_change", args=[demo["stage"].pk]),
        reverse("admin:programmes_followup_changelist"),
        reverse("admin:programmes_followup_change", args=[demo["follow_up"].pk]),
    ]
    english = english_labels()
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        assert f'<html lang="{language}"' in body
        labels = shown_labels(body)
        assert labels, page
        if language == "en":
            # The check sees the labels: in English, the same pages show the English names.
            assert labels & english, page
        else:
            assert not labels & english, f"{language} {page}: {sorted(labels & english)}"


CATALOGUE = {
    entry["code"]: entry
    for entry in json.loads((Path(settings.BASE_DIR) / "fixtures" / "stage_catalogue.json").read_text("utf-8"))
}


@pytest.mark.parametrize("language", TRANSLATED)
def test_stage_names_are_shown_in_the_active_language(client, demo, language):
    """The case page, the stage list and the dashboard show each stage type by its name in
    the user's language (``StageType.name_<code>``), from the demo catalogue."""
    administrator = f.UserFactory(username="reader", is_superuser=True)
    UserPreference.objects.create(user=administrator, language=language)
    force_login(client, administrator)
    case = demo["case"]
    stages = list(StageRecord.objects.filter(enrolment__case=case).select_related("stage_type"))
    page = client.get(reverse("admin:casework_case_change", args=[case.pk])).content.decode()
    plan = page[page.index('id="stages"') :]
    for stage in stages:
        translated = CATALOGUE[stage.stage_type.code][f"name_{language}"]
        assert translated and translated in plan, (language, stage.stage_type.code)
        assert f">{stage.stage_type.name}<" not in plan, (language, stage.stage_type.code)
    listing = client.get(reverse("admin:programmes_stagerecord_changelist")).content.decode()
    assert CATALOGUE["housing"][f"name_{language}"] in listing
    assert "Housing and family reunification (" not in listing


def test_a_stage_name_without_a_translation_falls_back_to_the_catalogue_name(db):
    stage_type = StageType(name="Community work", name_ru="Общественная работа")
    with translation.override("ru"):
        assert str(stage_type) == "Общественная работа"
    with translation.override("kk"):
        assert str(stage_type) == "Community work"
    with translation.override("en"):
        assert stage_type.display_name == "Community work"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_audit_trail_shows_its_labels_in_the_language(client, demo, language):
    from audit.models import AuditEntry

    administrator = f.UserFactory(username="auditor", is_superuser=True)
    UserPreference.objects.create(user=administrator, language=language)
    force_login(client, administrator)
    case = demo["case"]
    case.risk_level = "high" if case.risk_level != "high" else "low"
    case.save()
    entry = AuditEntry.objects.filter(object_pk=str(case.pk), action=AuditEntry.Action.UPDATE).latest("timestamp")
    body = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).content.decode()
    headers = {html.unescape(TAG.sub("", cell)).strip() for cell in re.findall(r"<th>(.*?)</th>", body, re.S)}
    assert headers and not headers & {"Field", "From", "To"}, headers
    with translation.override(language):
        assert capfirst(str(Case._meta.get_field("risk_level").verbose_name)) in body


def test_demo_cyrillic_spellings_are_cyrillic_to_the_last_letter(demo):
    """A female surname's ending in the Cyrillic spelling is the Cyrillic "а", not a Latin "a"."""
    from casework.models import PersonName

    spellings = list(PersonName.objects.filter(script="cyrillic").values_list("full_name", "person__sex"))
    assert spellings
    for full_name, sex in spellings:
        assert not re.search(r"[A-Za-z]", full_name), full_name
        if sex == "female":
            assert full_name.endswith("\u0430"), full_name
