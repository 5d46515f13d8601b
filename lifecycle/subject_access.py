"""Subject access: everything the system holds about one person, for a data-protection request.

The export is plain JSON: each kind of record as a list of rows with every field
(identifier values decrypted), plus the audit trail of who changed or read the
person's data, through which door and for which agency, the entries of Django's
admin log about the person and their records, and, from a search of every text
column of every table (``lifecycle.personal_data_scan``), every place where one of
the person's values is stored, so that nothing held about them is left out.
Producing it is itself recorded in the audit trail as a read of the person.
"""

from __future__ import annotations

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils import timezone

from audit.admin_log import admin_log_entries_for
from audit.models import AuditEntry, persons_key
from audit.reads import record_reads
from casework.models import (
    Case,
    CaseNote,
    CaseStatusChange,
    ClosureRequest,
    Consent,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    ReceivingRelative,
    Referral,
)

from justice.models import CourtHearing, LegalProceeding
from justice.reminders import HEARING_SUBJECT, RELEASE_SUBJECT
from lifecycle.models import TransferRequest
from lifecycle.personal_data_scan import FREE_TEXT, person_values, personal_data_find

JSON_ENCODER = DjangoJSONEncoder


def _rows(queryset) -> list[dict]:
    return [{"id": row["pk"], **row["fields"]} for row in serializers.serialize("python", queryset.order_by("pk"))]


def person_export(*, person: Person) -> dict:
    """Every record about ``person``, keyed by kind of record."""
    from notifications.models import Notification
    from programmes.models import (
        AccommodationStay,
        DocumentRequest,
        EmploymentPlacement,
        Enrolment,
        FollowUp,
        HousingPlacement,
        PsychologicalSession,
        RelativeContact,
        SchoolPlacement,
        StageRecord,
        StageTransition,
    )

    cases = Case.objects.filter(person=person)
    enrolments = Enrolment.objects.filter(case__in=cases)
    stages = StageRecord.objects.filter(enrolment__in=enrolments)
    memberships = FamilyMembership.objects.filter(person=person)
    follow_ups = FollowUp.objects.filter(stage__in=stages)
    proceedings = LegalProceeding.objects.filter(case__in=cases)
    hearings = CourtHearing.objects.filter(proceeding__in=proceedings)
    notifications = Notification.objects.filter(
        Q(subject_type="stage", subject_id__in=stages.values("id"))
        | Q(subject_type="follow_up", subject_id__in=follow_ups.values("id"))
        | Q(subject_type="closure_request", subject_id__in=ClosureRequest.objects.filter(case__in=cases).values("id"))
        | Q(subject_type=RELEASE_SUBJECT, subject_id__in=proceedings.values("id"))
        | Q(subject_type=HEARING_SUBJECT, subject_id__in=hearings.values("id"))
    )
    trail = (
        AuditEntry.objects.filter(persons__contains=persons_key([person.pk]))
        .select_related("actor", "agency", "content_type")
        .order_by("timestamp", "pk")
    )
    admin_log = admin_log_entries_for(person_ids=[person.pk]).select_related("user", "content_type")
    # Identifying values only: free text shared with other people's records (a stock
    # outcome) would point at their rows.
    identifying = {kind: found for kind, found in person_values(person).items() if kind != FREE_TEXT}
    where_found = [finding.as_dict() for finding in personal_data_find(values=identifying)]
    record_reads([person], detail=True)
    return {
        "exported_at": timezone.now(),
        "person": _rows(Person.objects.filter(pk=person.pk))[0],
        "names": _rows(PersonName.objects.filter(person=person)),
        "identifiers": _rows(PersonIdentifier.objects.filter(person=person)),
        "family_memberships": _rows(memberships),
        "families": _rows(Family.objects.filter(memberships__in=memberships).distinct()),
        "receiving_relatives": _rows(ReceivingRelative.objects.filter(family__memberships__in=memberships).distinct()),
        "consents": _rows(Consent.objects.filter(person=person)),
        "cases": _rows(cases),
        "case_notes": _rows(CaseNote.objects.filter(case__in=cases)),
        "case_status_changes": _rows(CaseStatusChange.objects.filter(case__in=cases)),
        "closure_requests": _rows(ClosureRequest.objects.filter(case__in=cases)),
        "transfer_requests": _rows(TransferRequest.objects.filter(case__in=cases)),
        "legal_proceedings": _rows(proceedings),
        "court_hearings": _rows(hearings),
        "referrals": _rows(Referral.objects.filter(case__in=cases)),
        "enrolments": _rows(enrolments),
        "stages": _rows(stages),
        "stage_transitions": _rows(StageTransition.objects.filter(stage__in=stages)),
        "follow_ups": _rows(follow_ups),
        "accommodation_stays": _rows(AccommodationStay.objects.filter(stage__in=stages)),
        "psychological_sessions": _rows(PsychologicalSession.objects.filter(stage__in=stages)),
        "school_placements": _rows(SchoolPlacement.objects.filter(stage__in=stages)),
        "document_requests": _rows(DocumentRequest.objects.filter(stage__in=stages)),
        "housing_placements": _rows(HousingPlacement.objects.filter(stage__in=stages)),
        "employment_placements": _rows(EmploymentPlacement.objects.filter(stage__in=stages)),
        "relatives_contacted": _rows(RelativeContact.objects.filter(stage__in=stages)),
        "notifications": _rows(notifications),
        "audit_trail": [
            {
                "at": entry.timestamp,
                "action": entry.get_action_display(),
                "door": entry.door,
                "by": entry.actor.get_username() if entry.actor else None,
                "agency": entry.agency.name if entry.agency else None,
                "record": f"{entry.content_type.app_label}.{entry.content_type.model}",
                "object": entry.object_repr,
                "fields_changed": sorted((entry.changes or {}).keys()) if isinstance(entry.changes, dict) else [],
            }
            for entry in trail
        ],
        "admin_log": [
            {
                "at": entry.action_time,
                "action": {1: "addition", 2: "change", 3: "deletion"}.get(entry.action_flag, str(entry.action_flag)),
                "by": entry.user.get_username() if entry.user_id else None,
                "record": f"{entry.content_type.app_label}.{entry.content_type.model}"
                if entry.content_type_id
                else None,
                "object_id": entry.object_id,
                "object": entry.object_repr,
                "change_message": entry.get_change_message(),
            }
            for entry in admin_log.order_by("action_time", "pk")
        ],
        # Every column and row holding one of the person's values (the kind of value, not
        # the value: the value is in the records above).
        "where_found": where_found,
    }
