"""The hand-over export: one case in a documented JSON format, for a programme that runs
other software (``docs/handover.schema.json``, JSON Schema 2020-12).

It carries what the receiving programme needs to continue the work: the person (names in
every script, sex, date of birth, nationality, languages), the case, its consents, every
enrolment with its stages and follow-ups, and the legal proceedings with their hearings.
It never carries identifier values, notes, the charges or the hearings' notes: those the
receiving programme asks for through its own channels.

The subject's consent to the hand-over is recorded first (a current consent for all
rehabilitation services, named in the export), and the export itself is audited as a
read of the case and the person.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.reads import record_reads
from casework.models import Case, Consent, ConsentPurpose
from justice.models import LegalProceeding
from programmes.models import FollowUp, StageRecord

FORMAT = "rehab-handover"
VERSION = 1


def _day(value: datetime.date | None) -> str | None:
    return value.isoformat() if value else None


def _consent(case: Case, consent_id: int, day: datetime.date) -> Consent:
    consent = Consent.objects.filter(pk=consent_id, person_id=case.person_id).first()
    if consent is None or consent.purpose != ConsentPurpose.GENERAL or not consent.is_current(day):
        raise ValidationError(
            {"consent": _("A hand-over needs the person's current consent to all rehabilitation services.")}
        )
    return consent


def _stages(case: Case) -> dict[int, list[dict]]:
    follow_ups: dict[int, list[dict]] = {}
    for follow_up in FollowUp.objects.filter(stage__enrolment__case=case).order_by("due_date", "pk"):
        follow_ups.setdefault(follow_up.stage_id, []).append(
            {
                "kind": follow_up.kind,
                "due_date": _day(follow_up.due_date),
                "done_on": _day(follow_up.done_on),
                "cancelled_on": _day(follow_up.cancelled_on),
            }
        )
    by_enrolment: dict[int, list[dict]] = {}
    for stage in (
        StageRecord.objects.filter(enrolment__case=case)
        .select_related("stage_type")
        .order_by("stage_type__position", "pk")
    ):
        by_enrolment.setdefault(stage.enrolment_id, []).append(
            {
                "code": stage.stage_type.code,
                "name": stage.stage_type.name,
                "kind": stage.stage_type.kind,
                "track": stage.stage_type.track,
                "status": stage.status,
                "planned_start": _day(stage.planned_start),
                "due_date": _day(stage.due_date),
                "started_on": _day(stage.started_on),
                "completed_on": _day(stage.completed_on),
                "follow_ups": follow_ups.get(stage.pk, []),
            }
        )
    return by_enrolment


def case_handover(*, case: Case, consent_id: int, now: datetime.datetime | None = None) -> dict:
    """The hand-over document of one case (see ``docs/handover.schema.json``)."""
    now = now or timezone.now()
    consent = _consent(case, consent_id, timezone.localdate(now))
    person = case.person
    stages = _stages(case)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now.isoformat(),
        "consent": {"given_on": _day(consent.given_on), "given_by": consent.given_by},
        "person": {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "patronymic": person.patronymic,
            "sex": person.sex,
            "date_of_birth": _day(person.date_of_birth),
            "date_of_birth_estimated": person.date_of_birth_estimated,
            "nationality": person.nationality,
            "languages": list(person.languages or []),
            "names": [
                {"full_name": name.full_name, "script": name.script, "kind": name.kind}
                for name in person.names.order_by("pk")
            ],
        },
        "case": {
            "reference": case.reference,
            "status": case.status,
            "risk_level": case.risk_level,
            "legal_status": case.legal_status,
            "arrival_date": _day(case.arrival_date),
            "opened_on": _day(case.opened_on),
            "closed_on": _day(case.closed_on),
        },
        "enrolments": [
            {
                "programme": enrolment.programme.code,
                "status": enrolment.status,
                "enrolled_on": _day(enrolment.enrolled_on),
                "ended_on": _day(enrolment.ended_on),
                "stages": stages.get(enrolment.pk, []),
            }
            for enrolment in case.enrolments.select_related("programme").order_by("enrolled_on", "pk")
        ],
        "legal_proceedings": [
            {
                "stage": proceeding.stage,
                "opened_on": _day(proceeding.opened_on),
                "verdict": proceeding.verdict,
                "verdict_on": _day(proceeding.verdict_on),
                "sentence_kind": proceeding.sentence_kind,
                "sentence_months": proceeding.sentence_months,
                "sentence_start": _day(proceeding.sentence_start),
                "detained_since": _day(proceeding.detained_since),
                "expected_release_on": _day(proceeding.expected_release_on),
                "actual_release_on": _day(proceeding.actual_release_on),
                "reporting_until": _day(proceeding.reporting_until),
                "travel_ban": proceeding.travel_ban,
                "travel_ban_until": _day(proceeding.travel_ban_until),
                "hearings": [
                    {"held_on": _day(hearing.held_on), "court": hearing.court, "outcome": hearing.outcome}
                    for hearing in proceeding.hearings.order_by("held_on", "pk")
                ],
            }
            for proceeding in LegalProceeding.objects.filter(case=case).order_by("opened_on", "pk")
        ],
    }
    record_reads([case, person], detail=True)
    return document
