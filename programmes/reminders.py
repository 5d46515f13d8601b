"""Which reminders are due: upcoming, overdue and escalation, on the programme's calendar.

For every follow-up and stage still pending (``programmes.rules``: open, in an
active enrolment) with a due date D, on the programme's today (``rules.programme_today``):
- *upcoming* to the assignee from D - N (N = the stage type's ``remind_days_before``) until D itself;
- *overdue* to the assignee from D + 1, the first day ``rules`` calls it overdue;
- *escalation* to the programme's supervisors from D + M (M = ``escalate_after_days``).
Each reminder's due day is fixed by D, so the (kind, subject, recipient, due
day) key of the outbox makes materialising twice create it once. A reminder
missed while the system was down is still created within ``CATCH_UP_DAYS``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import F, Max
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from notifications import kinds
from notifications.delivery import notifications_add
from notifications.emails import templated_message
from notifications.models import Notification
from programmes import rules
from programmes.models import (
    OPEN_STAGE_STATUSES,
    FollowUp,
    Programme,
    ProgrammeMembershipRole,
    StageRecord,
)


class NotificationKind(models.TextChoices):
    """The reminders' e-mail kinds (registered with the outbox in ``register_emails``)."""

    UPCOMING = "upcoming", _("Upcoming deadline")
    OVERDUE = "overdue", _("Overdue")
    ESCALATION = "escalation", _("Escalation to supervisors")


class SubjectType(models.TextChoices):
    """What a reminder is about."""

    FOLLOW_UP = "follow_up", _("Follow-up")
    STAGE = "stage", _("Stage")


CATCH_UP_DAYS = 7
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Deadline:
    subject_type: str
    subject_id: int
    due_date: datetime.date
    remind_days_before: int
    escalate_after_days: int
    assignee_id: int | None


def reminders_for(deadline: Deadline, *, today: datetime.date, supervisor_ids: list[int]):
    """(kind, recipient id, due day) of every reminder the deadline has due on ``today``."""
    due = deadline.due_date
    if deadline.assignee_id and deadline.remind_days_before and due - deadline.remind_days_before * DAY <= today <= due:
        yield NotificationKind.UPCOMING, deadline.assignee_id, due - deadline.remind_days_before * DAY
    if deadline.assignee_id and due + DAY <= today <= due + (1 + CATCH_UP_DAYS) * DAY:
        yield NotificationKind.OVERDUE, deadline.assignee_id, due + DAY
    escalate_on = due + max(deadline.escalate_after_days, 1) * DAY
    if escalate_on <= today <= escalate_on + CATCH_UP_DAYS * DAY:
        for supervisor_id in supervisor_ids:
            yield NotificationKind.ESCALATION, supervisor_id, escalate_on


def _window(programme: Programme, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The due dates that can have a reminder due today."""
    limits = programme.stage_types.aggregate(before=Max("remind_days_before"), after=Max("escalate_after_days"))
    earliest = today - ((limits["after"] or 0) + CATCH_UP_DAYS + 1) * DAY
    latest = today + (limits["before"] or 0) * DAY
    return earliest, latest


def _deadlines(programme: Programme, earliest: datetime.date, latest: datetime.date):
    follow_ups = (
        FollowUp.objects.filter(
            rules.follow_up_pending_q(),
            due_date__gte=earliest,
            due_date__lte=latest,
            stage__enrolment__programme=programme,
        )
        .annotate(
            recipient=Coalesce("assignee_id", "stage__responsible_user_id", "stage__enrolment__case__caseworker_id"),
            before=F("stage__stage_type__remind_days_before"),
            after=F("stage__stage_type__escalate_after_days"),
        )
        .values_list("id", "due_date", "before", "after", "recipient")
    )
    for row in follow_ups.iterator(chunk_size=2000):
        yield Deadline(SubjectType.FOLLOW_UP, *row)
    stages = (
        StageRecord.objects.filter(
            rules.stage_pending_q(),
            due_date__gte=earliest,
            due_date__lte=latest,
            enrolment__programme=programme,
        )
        .annotate(
            recipient=Coalesce("responsible_user_id", "enrolment__case__caseworker_id"),
            before=F("stage_type__remind_days_before"),
            after=F("stage_type__escalate_after_days"),
        )
        .values_list("id", "due_date", "before", "after", "recipient")
    )
    for row in stages.iterator(chunk_size=2000):
        yield Deadline(SubjectType.STAGE, *row)


def reminders_materialize(*, now: datetime.datetime | None = None) -> int:
    """Create the outbox rows of every reminder due today (idempotent). Returns how many were new."""
    created = 0
    User = get_user_model()
    for programme in Programme.objects.filter(is_active=True):
        today = rules.programme_today(programme, now)
        earliest, latest = _window(programme, today)
        supervisor_ids = list(
            User.objects.filter(
                is_active=True,
                programme_memberships__programme=programme,
                programme_memberships__role=ProgrammeMembershipRole.SUPERVISOR,
            )
            .exclude(email="")
            .values_list("id", flat=True)
        )
        due = {
            (kind, deadline.subject_type, deadline.subject_id, recipient, due_on)
            for deadline in _deadlines(programme, earliest, latest)
            for kind, recipient, due_on in reminders_for(deadline, today=today, supervisor_ids=supervisor_ids)
        }
        if not due:
            continue
        # The sweep runs every minute: skip what exists without asking the database to insert it.
        existing = set(
            Notification.objects.filter(due_on__gte=earliest, due_on__lte=today).values_list(
                "kind", "subject_type", "subject_id", "recipient_id", "due_on"
            )
        )
        created += notifications_add(due - existing)
    return created


def _stage_name(stage: StageRecord):
    """The stage's name in the language active when the message renders (the recipient's),
    not the sweep's."""
    return lazy(lambda: stage.stage_type.display_name, str)()


def _deadline_context(notification: Notification) -> dict | None:
    if notification.subject_type == SubjectType.FOLLOW_UP:
        follow_up = (
            FollowUp.objects.select_related(
                "stage__stage_type", "stage__enrolment__case", "stage__enrolment__programme"
            )
            .filter(pk=notification.subject_id)
            .first()
        )
        if follow_up is None or not follow_up.is_open:
            return None
        # The lazy label, not get_kind_display(): it is translated when the message renders it.
        stage, what, due_date = follow_up.stage, follow_up.Kind(follow_up.kind).label, follow_up.due_date
        link = reverse("admin:programmes_followup_change", args=[follow_up.pk])
    else:
        stage = (
            StageRecord.objects.select_related("stage_type", "enrolment__case", "enrolment__programme")
            .filter(pk=notification.subject_id)
            .first()
        )
        if stage is None or stage.status not in OPEN_STAGE_STATUSES:
            return None
        what, due_date = format_lazy(_("End of stage: {stage}"), stage=_stage_name(stage)), stage.due_date
        link = reverse("admin:programmes_stagerecord_change", args=[stage.pk])
    programme = stage.enrolment.programme
    today = programme.local_today()
    return {
        "case_reference": stage.enrolment.case.reference,
        "stage_name": _stage_name(stage),
        "what": what,
        "due_date": due_date,
        "days_overdue": (today - due_date).days,
        "days_left": (due_date - today).days,
        "programme": programme.name,
        "link": settings.SITE_URL.rstrip("/") + link,
    }


def render_reminder(notification: Notification):
    context = _deadline_context(notification)
    if context is None:
        return None
    return templated_message(notification, f"programmes/emails/{notification.kind}", context)


def register_emails() -> None:
    """Tell the outbox about the reminders' kinds (called from ``programmes.apps``)."""
    subjects = tuple(SubjectType.values)
    kinds.register(
        *(
            kinds.EmailKind(key=kind.value, label=kind.label, subject_types=subjects, render=render_reminder)
            for kind in NotificationKind
        )
    )
