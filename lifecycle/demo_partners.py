"""The demo's partner agencies beyond the children's fund: a school, a civil registry and a
psychological service, each with a user of its own.

They get their referrals through the same services the admin and the API use (a consent
recorded for the agency and purpose, a referral on it, the agency's acceptance), so the
demo data passes every check real data passes. Each agency has some referrals accepted
(it sees the stages their purpose covers) and some pending (it sees the referral alone:
age band, languages, purpose and note).
Everything here is fictional.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from casework.models import ADULT_AGE, Agency, AgencyKind, Case, CaseStatus, Consent, ConsentPurpose, Referral
from casework.services import consent_record, referral_accept, referral_create
from programmes.demo import demo_password
from programmes.models import StageKind, StageRecord, StageStatus

#: School age, in years on the day of the seed.
SCHOOL_AGE = (6, ADULT_AGE)


@dataclass(frozen=True)
class DemoPartner:
    username: str
    agency_code: str
    agency_name: str
    kind: str
    purpose: str
    note: str
    stage_kind: str
    ages: tuple[int, int]
    accepted: int
    pending: int


DEMO_PARTNERS = [
    DemoPartner(
        "school",
        "school-7",
        "School No. 7 (demo)",
        AgencyKind.SCHOOL,
        ConsentPurpose.SCHOOLING,
        "Enrolment in the class for the child's age, with language support (demo).",
        StageKind.SCHOOLING,
        SCHOOL_AGE,
        accepted=4,
        pending=2,
    ),
    DemoPartner(
        "registry",
        "civil-registry",
        "Civil registry office (demo)",
        AgencyKind.CIVIL_REGISTRY,
        ConsentPurpose.DOCUMENTS,
        "Birth certificate to be issued in place of one from abroad (demo).",
        StageKind.DOCUMENTS,
        (0, 200),
        accepted=4,
        pending=2,
    ),
    DemoPartner(
        "psychologist",
        "psych-service",
        "Psychological service (demo)",
        AgencyKind.HEALTH,
        ConsentPurpose.PSYCHOSOCIAL,
        "Sessions for a child after the return (demo).",
        StageKind.PSYCHOLOGICAL,
        (3, ADULT_AGE),
        accepted=3,
        pending=2,
    ),
]
DEMO_PARTNER_ACCOUNTS = [partner.username for partner in DEMO_PARTNERS]


def demo_partner_account(username: str, *, seed: int) -> tuple:
    """An agency user (not staff) with the seed's demo password."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.email = f"{username}@demo.rehab.example"
    user.first_name = username.capitalize()
    user.last_name = "(demo)"
    user.is_active = True
    user.is_staff = False
    user.is_superuser = False
    password = demo_password(username, seed)
    user.set_password(password)
    user.save()
    return user, password


def demo_partners_seed(*, seed: int = 2026, today: datetime.date | None = None) -> dict[str, str]:
    """Create the agencies, their users and their referrals; return the users' passwords.

    Cases are taken in a fixed order among open cases of the northern programme that no
    agency has yet, those whose stage of the agency's kind is still ahead first (planned
    ones before active ones, so the agency has something to record); the same caseload
    gives the same referrals."""
    today = today or timezone.localdate()
    passwords = {}
    taken = set(Referral.objects.values_list("case_id", flat=True))
    with transaction.atomic():
        for partner in DEMO_PARTNERS:
            user, passwords[partner.username] = demo_partner_account(partner.username, seed=seed)
            agency, _ = Agency.objects.get_or_create(
                code=partner.agency_code, defaults={"name": partner.agency_name, "kind": partner.kind}
            )
            agency.members.add(user)
            chosen = []
            wanted = partner.accepted + partner.pending
            cases = (
                Case.objects.filter(
                    enrolments__programme__code="north", caseworker__isnull=False, arrival_date__lte=today
                )
                .exclude(status=CaseStatus.CLOSED)
                .exclude(pk__in=taken)
                .annotate(
                    planned=Exists(_open_stages(partner.stage_kind, (StageStatus.PLANNED,))),
                    ahead=Exists(_open_stages(partner.stage_kind, (StageStatus.PLANNED, StageStatus.ACTIVE))),
                )
                .select_related("person")
                .order_by("-planned", "-ahead", "reference")
                .distinct()
            )
            for case in cases.iterator():
                if partner.ages[0] <= case.person.age_on(today) < partner.ages[1]:
                    chosen.append(case)
                    taken.add(case.pk)
                    if len(chosen) == wanted:
                        break
            for number, case in enumerate(chosen):
                _demo_referral(case, agency=agency, partner=partner, accept=number < partner.accepted)
    return passwords


def _open_stages(kind: str, statuses: tuple[str, ...]):
    return StageRecord.objects.filter(enrolment__case=OuterRef("pk"), stage_type__kind=kind, status__in=statuses)


def _demo_referral(case: Case, *, agency: Agency, partner: DemoPartner, accept: bool) -> Referral:
    child = case.person.age_on(case.arrival_date) < ADULT_AGE
    consent = consent_record(
        consent=Consent(
            person=case.person,
            agency=agency,
            purpose=partner.purpose,
            given_by=Consent.GivenBy.GUARDIAN if child else Consent.GivenBy.SUBJECT,
            guardian_name="Mother of the child (demo)" if child else "",
            given_on=case.arrival_date,
            recorded_by=case.caseworker,
        ),
        by=None,
    )
    referral = referral_create(
        referral=Referral(
            case=case,
            agency=agency,
            purpose=partner.purpose,
            consent=consent,
            referred_by=case.caseworker,
            referred_on=case.arrival_date,
            note=partner.note,
        ),
        by=None,
    )
    if accept:
        # Accepted by the system, not by the agency's user: an agency's own writes are audited
        # under the agency, and the audit trail would keep the demo agency from being reset.
        referral = referral_accept(referral_id=referral.pk, by=None, on=case.arrival_date)
    return referral
