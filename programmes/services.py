"""Writes that matter for programmes: installing a stage catalogue and enrolling a case.

Every function here is keyword-only, runs in one transaction, validates with
``full_clean()`` and relies on the database constraints for the races that
validation cannot see.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from casework.models import Case
from programmes.models import Enrolment, Programme, StageRecord, StageType

STANDARD_CATALOGUE = Path(settings.BASE_DIR) / "fixtures" / "stage_catalogue.json"


def stage_catalogue_install(*, programme: Programme, path: Path = STANDARD_CATALOGUE) -> list[StageType]:
    """Create or update the programme's stage types from a catalogue file (idempotent).

    An entry's ``referral_purposes`` says which referrals cover the stage (what a
    partner agency may see and do); a new stage type whose entry does not say gets
    the standard ones of its kind, an existing one keeps its own.
    """
    from programmes.models import DEFAULT_REFERRAL_PURPOSES

    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    installed = []
    with transaction.atomic():
        for entry in entries:
            entry = dict(entry)
            code = entry.pop("code")
            stage_type = StageType.objects.filter(programme=programme, code=code).first() or StageType(
                programme=programme, code=code
            )
            if stage_type._state.adding and "referral_purposes" not in entry:
                entry["referral_purposes"] = list(DEFAULT_REFERRAL_PURPOSES.get(entry.get("kind"), ()))
            for field, value in entry.items():
                setattr(stage_type, field, value)
            stage_type.full_clean()
            stage_type.save()
            installed.append(stage_type)
    return installed


def stage_plan_build(*, enrolment: Enrolment, stage_types: list[StageType] | None = None) -> list[StageRecord]:
    """The stage records an enrolment should start with (unsaved).

    A stage type applies by the person's age on the day of enrolment (schooling
    by age band, employment for adults). Dates count from the arrival date, so
    supervised accommodation is due 30 days after arrival. ``stage_types`` may
    be passed in (ordered) to plan many enrolments without a query each.
    """
    case = enrolment.case
    age = case.person.age_on(enrolment.enrolled_on)
    if stage_types is None:
        stage_types = list(enrolment.programme.stage_types.filter(is_active=True).order_by("position", "code"))
    stages = []
    for stage_type in stage_types:
        if not stage_type.applies_to_age(age):
            continue
        planned_start = case.arrival_date + datetime.timedelta(days=stage_type.start_offset_days)
        stages.append(
            StageRecord(
                enrolment=enrolment,
                stage_type=stage_type,
                planned_start=planned_start,
                due_date=planned_start + datetime.timedelta(days=stage_type.default_duration_days),
                responsible_user=case.caseworker,
            )
        )
    return stages


def enrolment_create(
    *, case: Case, programme: Programme, by=None, enrolled_on: datetime.date | None = None
) -> Enrolment:
    """Enrol a case in a programme and generate its stage plan, in one transaction.

    The enrolling user must see the case as staff and work in the programme: a forged
    id of another programme's case (or a programme the user has no role in) is
    answered as a missing row.
    """
    from casework.visibility import require_visible

    require_visible(by, case)
    require_visible(by, programme)
    enrolment = Enrolment(
        case=case,
        programme=programme,
        enrolled_on=enrolled_on or programme.local_today(),
        enrolled_by=by,
    )
    enrolment.full_clean()
    try:
        with transaction.atomic():
            enrolment.save()
            StageRecord.objects.bulk_create(stage_plan_build(enrolment=enrolment))
    except IntegrityError as exc:
        # Another request enrolled the same case between validation and insert.
        raise ValidationError(_("This case already has an active enrolment in this programme.")) from exc
    return enrolment
