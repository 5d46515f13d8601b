"""Retention: personal data is kept for a programme's retention period after a case
closes, then anonymised. What statistics need stays (sex, birth year, nationality,
languages, every stage, date and status); what identifies a person goes (names in
every script, identifiers, notes and free text, addresses, document numbers), also
from Django's admin log.

Each case is anonymised, with the people it releases, in its own transaction: one
case that cannot be anonymised (a constraint, a lock) is reported and tried again on
the next run, and never stops the others. Every run leaves a ``RetentionRun`` row
with its counts and failures (case reference, step and error kind: no personal data).

Nothing here is reachable from the API. The sweep runs daily (a Celery beat task)
and ``python manage.py apply_retention --dry-run`` shows what it would do.
"""

from __future__ import annotations

import datetime
import logging
import re
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
    Family,
    FamilyMembership,
    Person,
    PersonIdentifier,
    PersonName,
    Referral,
    RetentionRun,
)
from justice.models import CourtHearing, LegalProceeding
from lifecycle.models import TransferRequest

logger = logging.getLogger(__name__)

# The neutral marker that replaces free text. Never empty: the database requires an
# outcome on a follow-up that is done, a reason on a closure request and a guardian's
# name on a guardian's consent, and the marker keeps those rows valid.
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
    programme_of_case: dict[int, int | None] = field(default_factory=dict)

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
        .annotate(retention=Max("enrolments__programme__retention_days"), programme=Max("enrolments__programme_id"))
        .order_by("closed_on", "reference")
        .values_list("id", "reference", "closed_on", "retention", "programme")
    )
    for case_id, reference, closed_on, retention, programme_id in candidates:
        expires = closed_on + datetime.timedelta(days=retention or DEFAULT_RETENTION_DAYS)
        if expires < today:
            plan.cases.append((reference, closed_on, expires))
            plan.case_ids.append(case_id)
            plan.programme_of_case[case_id] = programme_id
    plan.person_ids = _persons_released(plan.case_ids)
    return plan


@dataclass
class RetentionDue:
    """A programme's cases whose retention ends within the coming days."""

    programme_id: int | None
    overdue: list[tuple[str, datetime.date]] = field(default_factory=list)  # reference, ended: tried again next run
    due: list[tuple[str, datetime.date]] = field(default_factory=list)  # reference, ends


def retention_due(*, today: datetime.date | None = None, days: int = 30) -> dict[int | None, RetentionDue]:
    """Per programme (by id; None for cases never enrolled), the closed cases to be
    anonymised in the next ``days`` days, and those past their date still waiting."""
    today = today or timezone.localdate()
    plan = retention_plan(today=today + datetime.timedelta(days=days))
    due: dict[int | None, RetentionDue] = {}
    for case_id, (reference, _closed, expires) in zip(plan.case_ids, plan.cases):
        programme_id = plan.programme_of_case.get(case_id)
        row = due.setdefault(programme_id, RetentionDue(programme_id=programme_id))
        (row.overdue if expires < today else row.due).append((reference, expires))
    return due


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
    families = (
        Family.objects.filter(id__in=touched.values("family_id"))
        .annotate(kept=Count("cases", filter=Q(cases__in=Case.objects.filter(still_kept))))
        .filter(kept=0)
    )
    in_released = FamilyMembership.objects.filter(family__in=families).values("person_id")
    elsewhere = FamilyMembership.objects.exclude(family__in=families).values("person_id")
    relatives = (
        Person.objects.filter(anonymised_at__isnull=True, cases__isnull=True, id__in=in_released)
        .exclude(id__in=elsewhere)
        .values_list("id", flat=True)
    )
    return sorted({*returnees, *relatives})


def _persons_left_behind() -> list[int]:
    """People every case of whom is anonymised while they are not: left by an earlier
    run that failed after their cases' transaction (retried here, one by one)."""
    return list(
        Person.objects.filter(anonymised_at__isnull=True, cases__isnull=False)
        .exclude(cases__anonymised_at__isnull=True)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@dataclass
class RetentionResult:
    """What a run did: the cases and people anonymised, and what failed."""

    today: datetime.date
    case_ids: list[int] = field(default_factory=list)
    person_ids: list[int] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    run: RetentionRun | None = None

    def __bool__(self) -> bool:
        return bool(self.case_ids or self.person_ids or self.failures)


class _Step:
    """The step under way, so that a failure says where it happened without saying what."""

    name = "start"


_CONSTRAINT = re.compile(r'constraint "?([A-Za-z0-9_]+)"?|constraint failed: (?:[A-Za-z0-9_]+\.)?([A-Za-z0-9_]+)')


def failure_reason(exc: BaseException) -> str:
    """The kind of error and, for a database constraint, its name: never a value.

    Database messages go on to quote the failing row (PostgreSQL's DETAIL), so only
    the constraint's name is taken from them.
    """
    reason = type(exc).__name__
    match = _CONSTRAINT.search(str(exc).splitlines()[0] if str(exc) else "")
    if match:
        reason += f": {match.group(1) or match.group(2)}"
    return reason


def retention_apply(*, today: datetime.date | None = None, plan: RetentionPlan | None = None) -> RetentionResult:
    """Anonymise what the plan names, one case (with the people it releases) per
    transaction, and store the run's report. The change log records each change."""
    plan = plan or retention_plan(today=today)
    result = RetentionResult(today=plan.today)
    started = timezone.now()
    for case_id, (reference, _closed, _expires) in zip(plan.case_ids, plan.cases):
        step = _Step()
        try:
            with transaction.atomic():
                persons = case_anonymise(case_id=case_id, step=step)
        except Exception as exc:  # noqa: BLE001 - one case never stops the others
            # Whatever the error, the case's transaction is rolled back whole; the case
            # is recorded and tried again on the next run, and the others go on.
            failure = {
                "case": reference,
                "programme": plan.programme_of_case.get(case_id),
                "step": step.name,
                "error": failure_reason(exc),
            }
            result.failures.append(failure)
            logger.warning("Retention failed for case %s at %s: %s", reference, step.name, failure["error"])
            continue
        if persons is None:
            continue  # reopened or already anonymised since the plan was made
        result.case_ids.append(case_id)
        result.person_ids.extend(persons)
    for person_id in _persons_left_behind():
        step = _Step()
        try:
            with transaction.atomic():
                step.name = "admin log"
                admin_log_scrub(person_ids=[person_id])
                persons_anonymise(person_ids=[person_id], step=step)
        except Exception as exc:  # noqa: BLE001 - one person never stops the others
            result.failures.append(
                {"person": person_id, "programme": None, "step": step.name, "error": failure_reason(exc)}
            )
            logger.warning("Retention failed for person %s at %s", person_id, step.name)
            continue
        result.person_ids.append(person_id)
    result.person_ids.sort()
    result.run = RetentionRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        today=plan.today,
        cases_anonymised=len(result.case_ids),
        persons_anonymised=len(result.person_ids),
        failures=result.failures,
    )
    return result


def case_anonymise(*, case_id: int, step: _Step | None = None) -> list[int] | None:
    """Anonymise one closed case and the people none of whose data is kept once it is;
    the caller holds the transaction. Returns the ids of the people anonymised, or
    None when the case, once locked, is no longer closed or is anonymised already."""
    step = step or _Step()
    step.name = "lock"
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.anonymised_at is not None or case.status != CaseStatus.CLOSED:
        return None
    person_ids = _persons_released([case_id])
    # First, while the names still exist: the admin log's rows are found through them.
    step.name = "admin log"
    admin_log_scrub(person_ids=[case.person_id, *person_ids])
    cases_anonymise(case_ids=[case_id], step=step)
    persons_anonymise(person_ids=person_ids, step=step)
    return person_ids


def admin_log_scrub(*, person_ids: list[int]) -> int:
    """Name the admin log's rows about these people by model and id, and take the
    objects' names out of their change messages (rows written before the log named
    nobody, or in bulk past its signal)."""
    from audit.admin_log import admin_log_entries_for, admin_log_scrub_entries

    return admin_log_scrub_entries(admin_log_entries_for(person_ids=person_ids))


def _mark(queryset, *fields: str) -> None:
    """Replace the non-empty values of free-text fields by the marker; empty stays empty."""
    for name in fields:
        queryset.exclude(**{name: ""}).update(**{name: ANONYMISED})


def cases_anonymise(*, case_ids: list[int], step: _Step | None = None) -> None:
    from programmes.models import (
        DocumentRequest,
        FollowUp,
        HousingPlacement,
        PsychologicalSession,
        RelativeContact,
        StageRecord,
        StageTransition,
    )

    step = step or _Step()
    if not case_ids:
        return
    now = timezone.now()
    step.name = "notes"
    _mark(CaseNote.objects.filter(case_id__in=case_ids), "body")
    step.name = "closure requests"
    _mark(ClosureRequest.objects.filter(case_id__in=case_ids), "reason", "comment")
    _mark(CaseStatusChange.objects.filter(case_id__in=case_ids), "note")
    _mark(TransferRequest.objects.filter(case_id__in=case_ids), "reason", "comment")
    step.name = "referrals"
    _mark(Referral.objects.filter(case_id__in=case_ids), "note")
    step.name = "stages"
    stages = StageRecord.objects.filter(enrolment__case_id__in=case_ids)
    _mark(stages, "outcome", "status_reason")
    _mark(StageTransition.objects.filter(stage__in=stages), "note")
    step.name = "follow-ups"
    _mark(FollowUp.objects.filter(stage__in=stages), "outcome")
    step.name = "stage details"
    DocumentRequest.objects.filter(stage__in=stages).exclude(number="").update(number="")
    _mark(DocumentRequest.objects.filter(stage__in=stages), "note")
    _mark(HousingPlacement.objects.filter(stage__in=stages), "address")
    PsychologicalSession.objects.filter(stage__in=stages).exclude(practitioner="").update(practitioner="")
    # Encrypted at rest, so never compared with "": written over, encrypted like any value.
    contacts = RelativeContact.objects.filter(stage__in=stages)
    contacts.update(relative_name=ANONYMISED)
    _mark(contacts, "reason")
    step.name = "legal proceedings"
    proceedings = LegalProceeding.objects.filter(case_id__in=case_ids)
    _mark(proceedings, "authority", "detention_place", "representative", "reporting_duty")
    # Encrypted at rest, so never compared with "": written over, encrypted like any value.
    proceedings.update(charges=ANONYMISED)
    CourtHearing.objects.filter(proceeding__in=proceedings).update(notes=ANONYMISED)
    step.name = "cases"
    # Saved one by one so that the change log has an entry per case.
    for case in Case.objects.filter(id__in=case_ids).select_for_update():
        case.anonymised_at = now
        case.save(update_fields=["anonymised_at", "updated_at"])


def persons_anonymise(*, person_ids: list[int], step: _Step | None = None) -> None:
    """Erase what identifies these people; the caller scrubs the admin log first."""
    step = step or _Step()
    if not person_ids:
        return
    now = timezone.now()
    step.name = "names"
    PersonName.objects.filter(person_id__in=person_ids).delete()
    step.name = "identifiers"
    PersonIdentifier.objects.filter(person_id__in=person_ids).delete()
    step.name = "consents"
    _mark(Consent.objects.filter(person_id__in=person_ids), "guardian_name")
    step.name = "persons"
    for person in Person.objects.filter(id__in=person_ids).select_for_update():
        person.given_name = ANONYMISED_NAME
        person.family_name = ""
        person.patronymic = ""
        person.place_of_birth = ""
        person.phone = ""
        # The birth year keeps age statistics; the day and month could identify.
        person.date_of_birth = person.date_of_birth.replace(month=1, day=1)
        person.date_of_birth_estimated = True
        person.anonymised_at = now
        person.save()
    step.name = "families"
    # A household label often carries a family name.
    emptied = Family.objects.annotate(
        kept=Count("memberships", filter=Q(memberships__person__anonymised_at__isnull=True))
    ).filter(kept=0, memberships__person_id__in=person_ids)
    for family in emptied.distinct():
        family.label = ""
        family.save(update_fields=["label", "updated_at"])
        # Whom the family went to: nothing of them is kept once no one of the family is.
        family.receiving_relatives.all().delete()
