"""Demo data of the justice track: a few men of the demo caseload under investigation, on
trial, serving a sentence, and released, in proportions like those reported from
Kazakhstan (about 25 convicted of roughly 700 people brought home), scaled to the demo's
size. Everything is fictional; every proceeding is recorded through ``justice.services``,
so the men in custody have the detention plan and the released ones the community plan.
"""

from __future__ import annotations

import datetime
import math
import random

from django.db import transaction
from django.utils import timezone

from casework.models import ADULT_AGE, Case, CaseStatus, LegalStatus, Sex
from justice import plan, services
from justice.models import CourtHearing, LegalProceeding, Representation
from programmes.models import Programme

# Per 700 people brought home.
CONVICTED_PER_700 = 25
ON_TRIAL_PER_700 = 6
UNDER_INVESTIGATION_PER_700 = 4
# Of the convicted, the share still serving their sentence; the others have been released.
SERVING_SHARE = 0.6
# At most this share of the demo's men is convicted (the demo may have fewer men than the figures).
MOST_MEN = 0.7

COURTS = ("Regional court (demo)", "City court (demo)", "Military court (demo)")
PRISONS = ("Correctional colony No. 1 (demo)", "Correctional colony No. 7 (demo)", "Pre-trial centre (demo)")
LAWYERS = ("State-appointed counsel (demo)", "Legal aid bureau (demo)", "Private counsel (demo)")
DAY = datetime.timedelta(days=1)


def demo_justice_reset() -> None:
    """Delete the demo's proceedings (before the casework they point at is deleted)."""
    CourtHearing.objects.all().delete()
    LegalProceeding.objects.all().delete()


def _scaled(total: int, per_700: int) -> int:
    return max(1, round(total * per_700 / 700))


class _Seeder:
    def __init__(self, *, seed: int, today: datetime.date):
        self.rng = random.Random(seed * 19 + 1)
        # Never a day after the real calendar's today: custody and releases are facts.
        self.today = min(today, timezone.localdate())

    def day_between(self, start: datetime.date, end: datetime.date) -> datetime.date:
        return start + DAY * self.rng.randint(0, max((end - start).days, 0))

    def proceeding(self, case: Case, **fields) -> LegalProceeding:
        opened = self.day_between(case.arrival_date, min(case.arrival_date + 30 * DAY, self.today))
        proceeding = LegalProceeding(
            case=case,
            opened_on=opened,
            authority="National security service (demo)",
            charges="Fictional charges (demo data).",
            representation=self.rng.choice([Representation.STATE_APPOINTED, Representation.LEGAL_AID]),
            representative=self.rng.choice(LAWYERS),
            **fields,
        )
        return services.proceeding_save(proceeding=proceeding, by=None)

    def hearing(self, proceeding: LegalProceeding, day: datetime.date, outcome: str) -> None:
        hearing = CourtHearing(proceeding=proceeding, held_on=day, court=self.rng.choice(COURTS), outcome=outcome)
        services.hearing_save(hearing=hearing, by=None)

    def convicted(self, case: Case, *, serving: bool) -> LegalProceeding:
        arrival = case.arrival_date
        detained = self.day_between(arrival + 5 * DAY, min(arrival + 40 * DAY, self.today))
        verdict_on = min(detained + self.rng.randint(60, 200) * DAY, self.today)
        months = self.rng.choice([24, 36, 48, 60, 72, 96])
        expected = detained + months * 30 * DAY
        if serving and expected <= self.today:
            expected = self.today + self.rng.randint(5, 400) * DAY
        proceeding = self.proceeding(
            case,
            stage="decided",
            verdict="convicted",
            verdict_on=verdict_on,
            sentence_kind="imprisonment",
            sentence_months=months,
            sentence_start=detained,
            detained_since=detained,
            detention_place=self.rng.choice(PRISONS[:2]),
            expected_release_on=expected,
        )
        self.hearing(proceeding, verdict_on, "verdict")
        if not serving:
            released = self.day_between(max(verdict_on, self.today - 300 * DAY), self.today - DAY)
            proceeding.actual_release_on = max(released, detained)
            proceeding.expected_release_on = max(proceeding.expected_release_on, proceeding.actual_release_on)
            proceeding.reporting_duty = "Weekly at the district police office (demo)"
            proceeding.reporting_until = proceeding.actual_release_on + 365 * DAY
            proceeding.travel_ban = True
            proceeding.travel_ban_until = proceeding.actual_release_on + 2 * 365 * DAY
            services.proceeding_save(proceeding=proceeding, by=None)
        return proceeding

    def on_trial(self, case: Case, *, detained: bool) -> LegalProceeding:
        custody = self.day_between(case.arrival_date + 5 * DAY, self.today) if detained else None
        proceeding = self.proceeding(
            case,
            stage="trial",
            detained_since=custody,
            detention_place=PRISONS[2] if detained else "",
        )
        self.hearing(proceeding, self.day_between(proceeding.opened_on, self.today), "adjourned")
        self.hearing(proceeding, self.today + self.rng.randint(1, 30) * DAY, "scheduled")
        return proceeding


def demo_justice_seed(*, seed: int = 2026, today: datetime.date | None = None) -> dict[str, int]:
    """Add the justice track to the demo caseload (the programmes' catalogues get its tracks).
    Returns the counts to print."""
    seeder = _Seeder(seed=seed, today=today or timezone.localdate())
    with transaction.atomic():
        for programme in Programme.objects.all():
            plan.catalogue_install(programme=programme)
        total = Case.objects.count()
        men = [
            case
            for case in Case.objects.filter(status=CaseStatus.OPEN, person__sex=Sex.MALE)
            .select_related("person")
            .order_by("reference")
            if case.person.age_on(case.arrival_date) >= ADULT_AGE and case.arrival_date < seeder.today - 20 * DAY
        ]
        seeder.rng.shuffle(men)
        # Most of the men are convicted; a small demo keeps some on trial and under investigation.
        convicted = men[: min(_scaled(total, CONVICTED_PER_700), math.ceil(len(men) * MOST_MEN))]
        rest = men[len(convicted) :]
        # A demo with few men keeps one in three of the others under investigation.
        under_investigation = min(_scaled(total, UNDER_INVESTIGATION_PER_700), len(rest) // 3)
        on_trial = rest[: min(_scaled(total, ON_TRIAL_PER_700), len(rest) - under_investigation)]
        investigated = rest[len(on_trial) : len(on_trial) + under_investigation]
        serving = round(len(convicted) * SERVING_SHARE)
        status = {}
        for index, case in enumerate(convicted):
            seeder.convicted(case, serving=index < serving)
            status[case.pk] = LegalStatus.SERVING_SENTENCE if index < serving else LegalStatus.RELEASED
        for index, case in enumerate(on_trial):
            seeder.on_trial(case, detained=index % 2 == 0)
            status[case.pk] = LegalStatus.CHARGED
        for case in investigated:
            seeder.proceeding(case, stage="investigation")
            status[case.pk] = LegalStatus.UNDER_INVESTIGATION
        # The case's own legal status says what its proceedings say, and nothing for the others.
        for case in Case.objects.exclude(legal_status=LegalStatus.NONE).exclude(pk__in=status):
            case.legal_status = LegalStatus.NONE
            case.save(update_fields=["legal_status", "updated_at"])
        for case in Case.objects.filter(pk__in=status):
            case.legal_status = status[case.pk]
            case.save(update_fields=["legal_status", "updated_at"])
    return {
        "LegalProceeding": LegalProceeding.objects.count(),
        "CourtHearing": CourtHearing.objects.count(),
        "in custody": LegalProceeding.objects.filter(
            detained_since__isnull=False, actual_release_on__isnull=True
        ).count(),
    }
