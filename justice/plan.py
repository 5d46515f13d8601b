"""The plan follows the person through detention.

When a proceeding records a first day in custody, each active enrolment of the
case (of an open case) changes plan, through the programmes' own services:

- the open stages of the standard plan are blocked ("In custody.");
- the detention track of the programme's catalogue (``StageType.track``: in-prison
  psychological care, education, documents, family contact) is added, planned from
  the first day in custody, and the stages due to start by then are started, so
  their follow-ups are scheduled from that day.

When the actual release is recorded:

- the detention stages end: completed if they were under way, discontinued if not;
- the community track (housing, employment, reporting conditions) is added and
  started on the day of release, so that its follow-ups fall due one interval after
  it; the reporting stage runs until the reporting duty ends, where one is recorded;
- the standard stages blocked for custody resume, except those of a kind the
  community plan now covers (housing, employment), which it replaces.

Every change is a workflow transition (a row each, audited as the user who recorded
the custody or the release). The catalogue's tracks come from
``fixtures/justice_catalogue.json`` (``catalogue_install``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from django.conf import settings

from casework.models import CaseStatus
from justice.models import LegalProceeding
from programmes import services, workflow
from programmes.models import (
    OPEN_STAGE_STATUSES,
    Enrolment,
    EnrolmentStatus,
    Programme,
    StageRecord,
    StageStatus,
    StageTrack,
    StageType,
)

JUSTICE_CATALOGUE = Path(settings.BASE_DIR) / "fixtures" / "justice_catalogue.json"

# Reasons and outcomes written on the stages (nothing about the proceedings themselves).
IN_CUSTODY = "In custody."
RELEASED = "Released from custody."
REPLACED = "Replaced by the community plan after release."


def catalogue_install(*, programme: Programme) -> list[StageType]:
    """Add (or update) the detention and community tracks to a programme's catalogue."""
    return services.stage_catalogue_install(programme=programme, path=JUSTICE_CATALOGUE)


def _enrolments(proceeding: LegalProceeding):
    return Enrolment.objects.filter(case_id=proceeding.case_id, status=EnrolmentStatus.ACTIVE).exclude(
        case__status=CaseStatus.CLOSED
    )


def _action_day(day: datetime.date, enrolment: Enrolment, *, not_before: datetime.date | None = None):
    """The day a transition is recorded on: ``day``, within the workflow's window around the
    programme's today (a custody recorded long after it began starts its stages a year back)."""
    today = enrolment.programme.local_today()
    earliest = today - datetime.timedelta(days=workflow.RECORDING_WINDOW_DAYS)
    day = min(max(day, earliest), today)
    return max(day, not_before) if not_before else day


def _open(enrolment: Enrolment, track: str):
    return enrolment.stages.filter(stage_type__track=track, status__in=OPEN_STAGE_STATUSES).order_by("pk")


def _start_due(stages: list[StageRecord], enrolment: Enrolment, *, by) -> None:
    today = enrolment.programme.local_today()
    for stage in stages:
        if stage.planned_start <= today:
            workflow.stage_start(stage_id=stage.pk, by=by, on=_action_day(stage.planned_start, enrolment))


def custody_begin(*, proceeding: LegalProceeding, by) -> None:
    for enrolment in _enrolments(proceeding).select_related("programme", "case__person"):
        for stage in _open(enrolment, StageTrack.STANDARD).exclude(status=StageStatus.BLOCKED):
            workflow.stage_block(stage_id=stage.pk, by=by, reason=IN_CUSTODY)
        added = services.stage_plan_extend(
            enrolment=enrolment, track=StageTrack.DETENTION, start=proceeding.detained_since, by=by
        )
        _start_due(added, enrolment, by=by)


def release_record(*, proceeding: LegalProceeding, by) -> None:
    day = proceeding.actual_release_on
    for enrolment in _enrolments(proceeding).select_related("programme", "case__person"):
        for stage in _open(enrolment, StageTrack.DETENTION):
            if stage.status == StageStatus.ACTIVE:
                on = _action_day(day, enrolment, not_before=stage.started_on)
                workflow.stage_complete(stage_id=stage.pk, by=by, outcome=RELEASED, on=on)
            else:
                workflow.stage_discontinue(stage_id=stage.pk, by=by, reason=RELEASED)
        until = {"community-reporting": proceeding.reporting_until} if proceeding.reporting_until else {}
        added = services.stage_plan_extend(
            enrolment=enrolment, track=StageTrack.COMMUNITY, start=day, by=by, until=until
        )
        _start_due(added, enrolment, by=by)
        covered = {stage.stage_type.kind for stage in added} | set(
            enrolment.stages.filter(stage_type__track=StageTrack.COMMUNITY).values_list("stage_type__kind", flat=True)
        )
        blocked = _open(enrolment, StageTrack.STANDARD).filter(status=StageStatus.BLOCKED, status_reason=IN_CUSTODY)
        for stage in blocked.select_related("stage_type"):
            if stage.stage_type.kind in covered:
                workflow.stage_discontinue(stage_id=stage.pk, by=by, reason=REPLACED)
            else:
                workflow.stage_unblock(stage_id=stage.pk, by=by)


def follow_custody(*, proceeding: LegalProceeding, before: LegalProceeding | None, by) -> None:
    """Move the plan when a save recorded the first day in custody or the release."""
    released = proceeding.actual_release_on is not None and (before is None or before.actual_release_on is None)
    custody_began = proceeding.in_custody and (before is None or before.detained_since is None)
    if custody_began:
        custody_begin(proceeding=proceeding, by=by)
    elif released:
        release_record(proceeding=proceeding, by=by)
