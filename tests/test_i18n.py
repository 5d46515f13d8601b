"""Languages: the admin and the e-mails in English, Russian, Kazakh and Arabic (right to left),
the user's choice kept, and catalogues that are complete and compiled."""

import ast
import datetime
import gettext
import re
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.models import UserPreference
from config.celery import app
from notifications import delivery
from programmes import reports, workflow
from programmes.models import FollowUp, StageRecord
from tests.conftest import force_login

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
TRANSLATED = ["ru", "kk", "ar"]
# What each language's admin says somewhere on the page, from our catalogue and from Django's.
EXPECTED = {
    "ru": {"ours": "Язык", "female": "Женский", "django": "Войти"},
    "kk": {"ours": "Тіл", "female": "Әйел", "django": "Кіру"},
    "ar": {"ours": "اللغة", "female": "أنثى", "django": "ادخل"},
}


def with_language_cookie(client, language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


# --- the admin ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("language", TRANSLATED)
def test_login_page_in_each_language(client, language):
    body = with_language_cookie(client, language).get(reverse("admin:login")).content.decode()
    assert f'<html lang="{language}"' in body
    assert EXPECTED[language]["ours"] in body and EXPECTED[language]["django"] in body
    # The chooser is there before signing in too, with the current language selected.
    assert f'<option value="{language}" lang="{language}" selected>' in body
    bidi = language == "ar"
    assert ('dir="rtl"' in body) is bidi
    assert ("admin/css/rtl.css" in body) is bidi


@pytest.mark.django_db
@pytest.mark.parametrize("language", TRANSLATED)
def test_change_list_in_each_language(client, administrator, case, language):
    UserPreference.objects.create(user=administrator, language=language)
    force_login(client, administrator)
    response = client.get(reverse("admin:casework_person_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<html lang="{language}" dir="{"rtl" if language == "ar" else "ltr"}"' in body
    # A choice label of the project (the sex filter) in that language.
    assert EXPECTED[language]["female"] in body
    assert response["Content-Language"] == language


# --- choosing a language ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_chosen_language_persists_for_the_user(client, caseworker):
    force_login(client, caseworker)
    response = client.post(reverse("accounts:language_set"), {"language": "kk", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert UserPreference.objects.get(user=caseworker).language == "kk"
    assert '<html lang="kk"' in client.get("/admin/").content.decode()

    # Another browser, no cookie, a browser asking for English: the stored choice wins.
    other = Client(HTTP_ACCEPT_LANGUAGE="en")
    force_login(other, caseworker)
    assert '<html lang="kk"' in other.get("/admin/").content.decode()

    client.post(reverse("accounts:language_set"), {"language": "ar", "next": "/admin/"})
    assert UserPreference.objects.get(user=caseworker).language == "ar"
    assert UserPreference.objects.count() == 1


@pytest.mark.django_db
def test_an_unknown_language_is_not_stored(client, caseworker):
    force_login(client, caseworker)
    client.post(reverse("accounts:language_set"), {"language": "de", "next": "/admin/"})
    assert not UserPreference.objects.exists()
    assert '<html lang="en"' in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_choosing_before_signing_in_sets_the_cookie_only(client):
    response = client.post(reverse("accounts:language_set"), {"language": "ru", "next": "/admin/login/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    assert not UserPreference.objects.exists()


# --- e-mails ----------------------------------------------------------------------------------

ALMATY = ZoneInfo("Asia/Almaty")


@pytest.fixture
def follow_up(case, caseworker, supervisor):
    """An open psychological-care follow-up due on 2026-12-10, as in test_reminders."""
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
    workflow.stage_start(stage_id=stage.pk, by=caseworker)
    follow_up = FollowUp.objects.get(stage=stage)
    follow_up.due_date = datetime.date(2026, 12, 10)
    follow_up.save()
    StageRecord.objects.filter(enrolment__case=case).update(due_date=datetime.date(2027, 6, 1))
    return follow_up


@pytest.fixture
def eager(django_capture_on_commit_callbacks):
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = previous


@pytest.mark.django_db
def test_reminders_come_in_each_recipients_language(follow_up, caseworker, supervisor, eager):
    UserPreference.objects.create(user=caseworker, language="ru")
    with translation.override("kk"), eager(execute=True):
        # Whatever language the sweep runs in, each recipient gets their own.
        delivery.sweep(now=datetime.datetime(2026, 12, 17, 9, tzinfo=ALMATY))
    messages = {message.to[0]: message for message in mail.outbox}
    assert set(messages) == {caseworker.email, supervisor.email}
    case = follow_up.stage.enrolment.case
    person = case.person

    russian = messages[caseworker.email]
    html = russian.alternatives[0][0]
    assert russian.subject == f"Просрочено: Сеанс по делу {case.reference} (срок 2026-12-10)"
    assert russian.body.startswith("Здравствуйте, caseworker!")
    # The stage's own name in Russian, though the sweep ran in Kazakh.
    stage_type = follow_up.stage.stage_type
    assert stage_type.name_ru and stage_type.name_ru != stage_type.name_kk
    assert f"Сеанс ({stage_type.name_ru}) по делу {case.reference}" in russian.body
    assert '<html lang="ru">' in html and f"<strong>{case.reference}</strong>" in html
    for text in (russian.subject, russian.body, html):
        assert person.given_name not in text and person.family_name not in text

    english = messages[supervisor.email]
    # The day count follows the real calendar at sending time, not the sweep's "now".
    assert re.fullmatch(rf"Overdue -?\d+ days?: Session for case {case.reference}", english.subject)
    assert english.body.startswith("Hello supervisor,")


@pytest.mark.django_db
def test_a_stage_deadline_reminder_is_translated_too(case, caseworker, eager):
    UserPreference.objects.create(user=caseworker, language="ar")
    stage = StageRecord.objects.filter(enrolment__case=case).order_by("due_date").first()
    with eager(execute=True):
        delivery.sweep(now=datetime.datetime.combine(stage.due_date, datetime.time(9), tzinfo=ALMATY))
    message = next(m for m in mail.outbox if m.to == [caseworker.email])
    assert stage.stage_type.name_ar and f"نهاية المرحلة: {stage.stage_type.name_ar}" in message.subject
    assert '<html lang="ar" dir="rtl">' in message.alternatives[0][0]


@pytest.mark.django_db
def test_stage_reports_stay_in_the_site_language(programme):
    period = reports.period_parse("2026-W47")
    numbers = reports.report_build(programme=programme, period=period)
    with translation.override("ru"):
        subject, text, html = reports.report_render(numbers)
    assert subject.startswith("Stage report 2026-W47") and "Needs attention" in text and '<html lang="en">' in html


# --- the catalogues ---------------------------------------------------------------------------


def po_entries(path: Path) -> list[dict]:
    """A small reader for the few PO constructs makemessages writes (no extra dependency)."""
    entries, entry, key = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry and "msgid" in entry:
                entries.append(entry)
            entry = key = None
            continue
        entry = entry if entry is not None else {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if isinstance(key, int):
                entry["msgstr"][key] += ast.literal_eval(line)
            else:
                entry[key] += ast.literal_eval(line)
        else:
            word, index, value = re.fullmatch(
                r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])? (".*")', line
            ).groups()
            key = int(index or 0) if word == "msgstr" else word
            if word == "msgstr":
                entry["msgstr"][key] = ast.literal_eval(value)
            else:
                entry[word] = ast.literal_eval(value)
    return entries


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text)) | set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogue_is_complete_and_compiled(language):
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "django.po"
    mo_path = po_path.with_suffix(".mo")
    header, *entries = po_entries(po_path)
    assert "fuzzy" not in header["flags"]
    nplurals = int(re.search(r"nplurals=(\d+)", header["msgstr"][0])[1])
    assert len(entries) > 250
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog

    for entry in entries:
        msgid, plural = entry["msgid"], entry.get("msgid_plural")
        name = f"{language}: {msgid!r}"
        assert "fuzzy" not in entry["flags"], name
        assert all(entry["msgstr"].values()), f"untranslated {name}"
        key = f"{entry['msgctxt']}\x04{msgid}" if "msgctxt" in entry else msgid
        if plural is None:
            assert placeholders(entry["msgstr"][0]) == placeholders(msgid), name
            assert compiled.get(key) == entry["msgstr"][0], f".mo is stale for {name}"
        else:
            assert len(entry["msgstr"]) == nplurals, name
            for index, text in entry["msgstr"].items():
                # A form used for one number only (Arabic "one day", "two days") may spell it out.
                assert placeholders(text) <= placeholders(plural), name
                assert compiled.get((key, index)) == text, f".mo is stale for {name}"

    if shutil.which("msgfmt"):
        subprocess.run(["msgfmt", "--check", "--output-file=/dev/null", str(po_path)], check=True)
