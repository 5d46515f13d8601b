"""Stage details recorded by staff and partner agencies: centre stays, psychological
sessions, school placements, document requests, housing and employment placements.

The API's detail resources write here, and each write moves the stage where the
data says so, through
``programmes.workflow`` (a transition row each):

- a detail whose work has begun (a stay, a session held, a current school
  placement, a requested document, a move-in, a job started) starts its stage
  if it is still planned, on the day the work began;
- on a documents stage whose stage type lists ``required_documents``, the issue
  of the last of them completes the stage, on its issue day.

A document request moves by its own actions (submitted, issued with its date and
number, refused); a school placement ends with a leaving date and a reason, never
by deletion. Each function is keyword-only, runs in one transaction with the case
and the stage locked (closure's order), refuses a stage of a closed case or ended
enrolment (409), validates with ``full_clean()`` and saves audited as ``by`` (the
audit entry carries the agency a partner acts for).
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from audit.context import acting_as
from core.errors import NotVisible, TransitionNotAllowed
from core.visibility import require_visible
from programmes import workflow
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    DocumentRequestStatus,
    EmploymentPlacement,
    HousingPlacement,
    PsychologicalSession,
    RelativeContact,
    SchoolPlacement,
    StageKind,
    StageRecord,
    StageStatus,
)


# Each detail model: the stage kind it belongs to, the day its work began, and the
# day it ended (None for a one-off record: a session, a document request).
DETAIL_MODELS: dict[type[models.Model], tuple[str, str, str | None]] = {
    AccommodationStay: (StageKind.ACCOMMODATION, "arrived_on", "exited_on"),
    PsychologicalSession: (StageKind.PSYCHOLOGICAL, "held_on", None),
    SchoolPlacement: (StageKind.SCHOOLING, "enrolled_on", "left_on"),
    DocumentRequest: (StageKind.DOCUMENTS, "requested_on", None),
    HousingPlacement: (StageKind.HOUSING, "moved_in_on", "moved_out_on"),
    EmploymentPlacement: (StageKind.EMPLOYMENT, "started_on", "ended_on"),
    RelativeContact: (StageKind.HOUSING, "contacted_on", None),
}

# Fields that only the detail's actions change (``document_request_*``, ``school_placement_end``).
ACTION_FIELDS = {
    DocumentRequest: ("status", "issued_on", "number"),
    SchoolPlacement: ("left_on", "left_reason"),
}

DOCUMENTS_COMPLETE_OUTCOME = "The documents the stage needs have been issued."

# Which statuses each document request action starts from, and where it leads.
DOCUMENT_ACTIONS = {
    "submit": ((DocumentRequestStatus.REQUESTED,), DocumentRequestStatus.SUBMITTED),
    "issue": ((DocumentRequestStatus.REQUESTED, DocumentRequestStatus.SUBMITTED), DocumentRequestStatus.ISSUED),
    "refuse": ((DocumentRequestStatus.REQUESTED, DocumentRequestStatus.SUBMITTED), DocumentRequestStatus.REFUSED),
}


def day_field(model) -> str:
    """The field holding the day a detail's work began (its list's date filters and order)."""
    return DETAIL_MODELS[model][1]


def end_field(model) -> str | None:
    return DETAIL_MODELS[model][2]


def _locked_stage(stage_id: int, *, by) -> StageRecord:
    stage = StageRecord.objects.filter(pk=stage_id).first()
    if stage is None:
        raise NotVisible()
    require_visible(by, stage)
    return workflow.stage_lock(stage_id)


def _locked_detail(model, pk: int, *, by):
    """A detail the caller may see, locked, then its case and stage (the order of an API
    edit, which locks the row it checks the If-Match of before saving through here)."""
    detail = model.objects.select_for_update().filter(pk=pk).first()
    if detail is None:
        raise NotVisible()
    require_visible(by, detail)
    detail.stage = workflow.stage_lock(detail.stage_id)
    return detail


def _save(detail, *, by) -> None:
    detail.full_clean()
    with acting_as(by):
        detail.save()


def _start_if_begun(stage: StageRecord, detail, *, by) -> None:
    """A planned stage starts on the day a current detail's work began (kept within the
    workflow's recording window); a detail that begins in the future waits for its day."""
    if stage.status != StageStatus.PLANNED:
        return
    _kind, begun_field, ended_field = DETAIL_MODELS[type(detail)]
    begun = getattr(detail, begun_field)
    if ended_field is not None and getattr(detail, ended_field) is not None:
        return
    today = stage.enrolment.programme.local_today()
    if begun > today:
        return
    on = max(begun, today - datetime.timedelta(days=workflow.RECORDING_WINDOW_DAYS))
    workflow.stage_start(stage_id=stage.pk, by=by, on=on)


def _complete_if_documents_issued(stage: StageRecord, *, by) -> None:
    required = set(stage.stage_type.required_documents or ())
    if stage.stage_type.kind != StageKind.DOCUMENTS or not required:
        return
    stage.refresh_from_db(fields=["status", "started_on", "version"])
    if stage.status != StageStatus.ACTIVE:
        return
    issued = dict(
        DocumentRequest.objects.filter(stage=stage, status=DocumentRequestStatus.ISSUED)
        .values("document_type")
        .annotate(last=models.Max("issued_on"))
        .values_list("document_type", "last")
    )
    if not required <= set(issued):
        return
    on = max(stage.started_on, *(issued[kind] for kind in required))
    workflow.stage_complete(stage_id=stage.pk, by=by, outcome=DOCUMENTS_COMPLETE_OUTCOME, on=on)


def _advance(stage: StageRecord, detail, *, by) -> None:
    _start_if_begun(stage, detail, by=by)
    if isinstance(detail, DocumentRequest):
        _complete_if_documents_issued(stage, by=by)


@transaction.atomic
def detail_save(*, detail, by):
    """Record a new detail, or save the changes to one, and move its stage where the data says.

    The stage must be one the caller may see (else 404), of the detail's kind (else
    400 on ``stage``), and not frozen (409); a detail stays on the stage it was
    recorded on. A new document request starts as requested, whatever was sent.
    """
    model = type(detail)
    kind = DETAIL_MODELS[model][0]
    if detail.pk is not None:
        stored = model.objects.filter(pk=detail.pk).values_list("stage_id", flat=True).first()
        if stored is None:
            raise NotVisible()
        require_visible(by, model.objects.get(pk=detail.pk))
        if stored != detail.stage_id:
            raise ValidationError({"stage": _("A record stays on the stage it was recorded on.")})
    stage = _locked_stage(detail.stage_id, by=by)
    if stage.stage_type.kind != kind:
        raise ValidationError({"stage": _("This record belongs to a stage of another kind.")})
    if detail.pk is None and model is DocumentRequest:
        detail.status, detail.issued_on, detail.number = DocumentRequestStatus.REQUESTED, None, ""
    detail.stage = stage
    _save(detail, by=by)
    _advance(stage, detail, by=by)
    return detail


def _document_action(request_id: int, action: str, *, by) -> DocumentRequest:
    document = _locked_detail(DocumentRequest, request_id, by=by)
    sources, target = DOCUMENT_ACTIONS[action]
    if document.status not in sources:
        raise TransitionNotAllowed(
            _("A document request that is %(status)s cannot be %(action)s.")
            % {"status": document.get_status_display().lower(), "action": DOCUMENT_ACTION_PAST[action]}
        )
    document.status = target
    return document


DOCUMENT_ACTION_PAST = {"submit": "submitted", "issue": "issued", "refuse": "refused"}


@transaction.atomic
def document_request_submit(*, request_id: int, by) -> DocumentRequest:
    """requested → submitted to the registry."""
    document = _document_action(request_id, "submit", by=by)
    _save(document, by=by)
    return document


@transaction.atomic
def document_request_issue(*, request_id: int, by, issued_on: datetime.date, number: str = "") -> DocumentRequest:
    """requested or submitted → issued, with the issue day (not in the programme's future,
    within the recording window) and the document's number (stored encrypted). The
    stage completes when this was the last document its stage type requires."""
    document = _document_action(request_id, "issue", by=by)
    document.issued_on = workflow.action_day(document.stage, issued_on, field="issued_on")
    document.number = (number or "").strip()
    _save(document, by=by)
    _advance(document.stage, document, by=by)
    return document


@transaction.atomic
def document_request_refuse(*, request_id: int, by, reason: str) -> DocumentRequest:
    """requested or submitted → refused, with the reason (kept in the request's note)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("This field is required.")})
    document = _document_action(request_id, "refuse", by=by)
    document.note = reason.strip()[:300]
    _save(document, by=by)
    return document


@transaction.atomic
def school_placement_end(*, placement_id: int, by, left_on: datetime.date, reason: str) -> SchoolPlacement:
    """The child left this school: the leaving day (not in the programme's future) and why.
    A placement is never deleted; one that has ended is not ended again (409)."""
    placement = _locked_detail(SchoolPlacement, placement_id, by=by)
    if placement.left_on is not None:
        raise TransitionNotAllowed(_("This school placement has already ended."))
    placement.left_on = workflow.action_day(placement.stage, left_on, field="left_on")
    placement.left_reason = (reason or "").strip()
    _save(placement, by=by)
    return placement
