"""The hand-over export: valid against its committed JSON Schema, with the subject's consent,
audited, and without identifiers, notes or charges."""

from __future__ import annotations

import datetime
import json
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from casework.models import CaseNote, ConsentPurpose, PersonIdentifier, PersonName
from justice.models import CourtHearing, LegalProceeding
from programmes import workflow
from programmes.models import StageRecord
from tests import factories as f

pytestmark = pytest.mark.django_db

SCHEMA = json.loads((Path(settings.BASE_DIR) / "docs" / "handover.schema.json").read_text(encoding="utf-8"))
SECRETS = ("ID-HANDOVER-1", "Note kept at home", "Charges kept at home", "Hearing notes kept at home")


def export(case, consent) -> dict:
    out = StringIO()
    call_command("export_handover", case.reference, "--consent", str(consent.pk), stdout=out)
    return json.loads(out.getvalue())


def test_the_export_is_valid_against_its_schema_and_leaves_out_what_stays(case, caseworker):
    person = case.person
    PersonName.objects.create(person=person, full_name="Тестовая Самплова", script="cyrillic", kind="spelling")
    PersonIdentifier.objects.create(person=person, kind="passport", value=SECRETS[0], issuing_country="KZ")
    CaseNote.objects.create(case=case, author=caseworker, body=SECRETS[1])
    stage = StageRecord.objects.get(enrolment__case=case, stage_type__code="psychological")
    workflow.stage_start(stage_id=stage.pk, by=caseworker)
    today = case.enrolments.get().programme.local_today()
    proceeding = LegalProceeding.objects.create(
        case=case, opened_on=today - datetime.timedelta(days=5), charges=SECRETS[2], travel_ban=True
    )
    CourtHearing.objects.create(proceeding=proceeding, held_on=today, court="Court (test)", notes=SECRETS[3])
    consent = f.ConsentFactory(person=person, purpose=ConsentPurpose.GENERAL, recorded_by=caseworker)

    document = export(case, consent)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    assert document["case"]["reference"] == case.reference
    (enrolment,) = document["enrolments"]
    assert {s["code"]: s["status"] for s in enrolment["stages"]}["psychological"] == "active"
    assert any(s["follow_ups"] for s in enrolment["stages"])
    assert document["legal_proceedings"][0]["hearings"][0]["court"] == "Court (test)"
    text = json.dumps(document, ensure_ascii=False)
    assert not [secret for secret in SECRETS if secret in text]
    assert AuditEntry.objects.filter(
        object_id=case.pk, content_type__model="case", action=LogEntry.Action.ACCESS
    ).exists()


def test_no_export_without_a_current_consent_to_all_services(case, caseworker):
    psychosocial = f.ConsentFactory(person=case.person, recorded_by=caseworker)
    with pytest.raises(CommandError, match="consent"):
        export(case, psychosocial)
    withdrawn = f.ConsentFactory(
        person=case.person,
        purpose=ConsentPurpose.GENERAL,
        recorded_by=caseworker,
        withdrawn_on=datetime.date.today() - datetime.timedelta(days=1),
    )
    with pytest.raises(CommandError, match="consent"):
        export(case, withdrawn)


def test_the_schema_names_every_value_the_models_allow():
    from casework.models import CaseStatus, LegalStatus, NameKind, RiskLevel, Script, Sex
    from justice.models import HearingOutcome, ProceedingStage, SentenceKind, Verdict
    from programmes.models import EnrolmentStatus, FollowUpKind, StageKind, StageStatus, StageTrack

    properties = SCHEMA["properties"]
    enrolment = properties["enrolments"]["items"]["properties"]
    stage = enrolment["stages"]["items"]["properties"]
    proceeding = properties["legal_proceedings"]["items"]["properties"]
    pairs = [
        (properties["person"]["properties"]["sex"], Sex),
        (properties["person"]["properties"]["names"]["items"]["properties"]["script"], Script),
        (properties["person"]["properties"]["names"]["items"]["properties"]["kind"], NameKind),
        (properties["case"]["properties"]["status"], CaseStatus),
        (properties["case"]["properties"]["risk_level"], RiskLevel),
        (properties["case"]["properties"]["legal_status"], LegalStatus),
        (enrolment["status"], EnrolmentStatus),
        (stage["kind"], StageKind),
        (stage["track"], StageTrack),
        (stage["status"], StageStatus),
        (stage["follow_ups"]["items"]["properties"]["kind"], FollowUpKind),
        (proceeding["stage"], ProceedingStage),
        (proceeding["verdict"], Verdict),
        (proceeding["sentence_kind"], SentenceKind),
        (proceeding["hearings"]["items"]["properties"]["outcome"], HearingOutcome),
    ]
    for declared, choices in pairs:
        assert set(declared["enum"]) == set(choices.values), choices.__name__
