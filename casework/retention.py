"""Retention: personal data is kept for a programme's retention period after a case
closes, then anonymised. What statistics need stays (sex, birth year, nationality,
languages, every stage, date and status); what identifies a person goes (names in
every script, identifiers, notes and free text, addresses, document numbers).

Nothing here is reachable from the API. The sweep runs daily (a Celery beat task)
and ``python manage.py apply_retention --dry-run`` shows what it would do.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from casework.models import (
    Case,
    CaseNote,
    CaseStatus,
    CaseStatusChange,
    ClosureRequest,
    Consent,
    ConsentGivenBy,
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    Referral,
)

ANONYMISED = "[anonymised]"
ANONYMISED_NAME = "Anonymised"
# Cases with no enrolment (registered, never enrolled) follow the shortest rule any programme may set.
DEFAULT_RETENTION_DAYS = 5 * 365


@dataclass
class RetentionPlan:
    today: datetime.date
    cases: list[tuple[str, datetime.date, datetime.date]] = field(default_factory=list)  # reference, closed, expired
    case_ids: list[int] = field(default_factory=list)
    person_ids: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.case_ids or self.person_ids)


def retention_plan(*, today: datetime.date | None = None) -> RetentionPlan:
    """The closed cases whose retention period has passed, and the people who go with them."""
    from programmes.models import Programme

    today = today or timezone.localdate()
    plan = RetentionPlan(today=today)
    shortest = min([DEFAULT_RETENTION_DAYS, *Programme.objects.values_list("retention_days", flat=True)])
    candidates = (
        Case.objects.filter(
            status=CaseStatus.CLOSED,
            anonymised_at__isnull=True,
            closed_on__lt=today - datetime.timedelta(days=shortest),
        )
        .annotate(retention=Max("enrolments__programme__retention_days"))
        .order_by("closed_on", "reference")
        .values_list("id", "reference", "closed_on", "retention")
    )
    for case_id, reference, closed_on, retention in candidates:
        expires = closed_on + datetime.timedelta(days=retention or DEFAULT_RETENTION_DAYS)
        if expires < today:
            plan.cases.append((reference, closed_on, expires))
            plan.case_ids.append(case_id)
    plan.person_ids = _persons_released(plan.case_ids)
    return plan


def _persons_released(case_ids: list[int]) -> list[int]:
    """People none of whose data is needed any more once these cases are anonymised:
    returnees whose every case is (or will be) anonymised, and receiving relatives
    without a case of their own whose every family is in that state."""
    if not case_ids:
        return []
    still_kept = Q(anonymised_at__isnull=True) & ~Q(id__in=case_ids)
    touched = Case.objects.filter(id__in=case_ids)
    returnees = (
        Person.objects.filter(anonymised_at__isnull=True, id__in=touched.values("person_id"))
        .annotate(kept=Count("cases", filter=Q(cases__in=Case.objects.filter(still_kept))))
        .filter(kept=0)
        .values_list("id", flat=True)
    )
    families = Family.objects.filter(id__in=touched.values("family_id")).annotate(
        kept=Count("cases", filter=Q(cases__in=Case.objects.filter(still_kept)))
    ).filter(kept=0)
    in_released = FamilyMembership.objects.filter(family__in=families).values("person_id")
    elsewhere = FamilyMembership.objects.exclude(family__in=families).values("person_id")
    relatives = (
        Person.objects.filter(anonymised_at__isnull=True, cases__isnull=True, id__in=in_released)
        .exclude(id__in=elsewhere)
        .values_list("id", flat=True)
    )
    return sorted({*returnees, *relatives})


def retention_apply(*, today: datetime.date | None = None, plan: RetentionPlan | None = None) -> RetentionPlan:
    """Anonymise what the plan names, in one transaction; the change log records it."""
    plan = plan or retention_plan(today=today)
    if not plan:
        return plan
    with transaction.atomic():
        cases_anonymise(case_ids=plan.case_ids)
        persons_anonymise(person_ids=plan.person_ids)
    return plan


def cases_anonymise(*, case_ids: list[int]) -> None:
    from programmes.models import (
        DocumentRequest,
        FollowUp,
        HousingPlacement,
        PsychologicalSession,
        StageRecord,
        StageTransition,
    )

    if not case_ids:
        return
    now = timezone.now()
    CaseNote.objects.filter(case_id__in=case_ids).update(body=ANONYMISED)
    ClosureRequest.objects.filter(case_id__in=case_ids).update(reason=ANONYMISED, comment="")
    CaseStatusChange.objects.filter(case_id__in=case_ids).update(note="")
    Referral.objects.filter(case_id__in=case_ids).update(note="")
    stages = StageRecord.objects.filter(enrolment__case_id__in=case_ids)
    stages.update(outcome="", status_reason="")
    StageTransition.objects.filter(stage__in=stages).update(note="")
    FollowUp.objects.filter(stage__in=stages).update(outcome="")
    DocumentRequest.objects.filter(stage__in=stages).update(number="", note="")
    HousingPlacement.objects.filter(stage__in=stages).update(address=ANONYMISED)
    PsychologicalSession.objects.filter(stage__in=stages).update(practitioner="")
    # Saved one by one so that the change log has an entry per case.
    for case in Case.objects.filter(id__in=case_ids).select_for_update():
        case.anonymised_at = now
        case.save(update_fields=["anonymised_at", "updated_at"])


def persons_anonymise(*, person_ids: list[int]) -> None:
    if not person_ids:
        return
    now = timezone.now()
    PersonName.objects.filter(person_id__in=person_ids).delete()
    PersonIdentifier.objects.filter(person_id__in=person_ids).delete()
    Consent.objects.filter(person_id__in=person_ids, given_by=ConsentGivenBy.GUARDIAN).update(guardian_name=ANONYMISED)
    for person in Person.objects.filter(id__in=person_ids).select_for_update():
        person.given_name = ANONYMISED_NAME
        person.family_name = ""
        person.patronymic = ""
        person.place_of_birth = ""
        # The birth year keeps age statistics; the day and month could identify.
        person.date_of_birth = person.date_of_birth.replace(month=1, day=1)
        person.date_of_birth_estimated = True
        person.anonymised_at = now
        person.save()
    # A household label often carries a family name.
    emptied = Family.objects.annotate(
        kept=Count("memberships", filter=Q(memberships__person__anonymised_at__isnull=True))
    ).filter(kept=0, memberships__person_id__in=person_ids)
    for family in emptied.distinct():
        family.label = ""
        family.save(update_fields=["label", "updated_at"])
