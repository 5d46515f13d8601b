"""Deterministic, clearly fictional demo data shaped like a real caseload.

Mostly mothers returning with several children, some men (most of them
convicted), a few unaccompanied children received by grandparents; several
operations; two programmes; stages in every status with overdue follow-ups;
closed cases as the workflow leaves them (an approved closure request, done
follow-ups and every kind of stage detail), some of them past the southern
programme's retention period, so that retention meets real data.
Every family name is an invented "sample" name so that no record can be
mistaken for a real person. The same seed and day always give the same data.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from dataclasses import dataclass, field
from typing import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework.models import (
    ADULT_AGE,
    Agency,
    AgencyKind,
    Case,
    CaseNote,
    CaseStatus,
    CaseStatusChange,
    ClosureRequest,
    ClosureRequestStatus,
    Consent,
    ConsentGivenBy,
    ConsentPurpose,
    Family,
    FamilyMembership,
    IdentifierKind,
    LegalStatus,
    NameKind,
    Person,
    PersonIdentifier,
    PersonName,
    ReceivingRelative,
    Referral,
    ReferralStatus,
    RepatriationOperation,
    RiskLevel,
    Script,
    Sex,
    identifier_digest,
)
from audit.models import AuditEntry
from casework.names import name_key
from core.roles import ADMINISTRATORS_GROUP, CASEWORKERS_GROUP, SUPERVISORS_GROUP, role_groups_sync
from programmes import reports, services
from programmes.workflow import FOLLOW_UP_KIND_BY_STAGE
from programmes.models import (
    AccommodationStay,
    DocumentRequest,
    DocumentRequestStatus,
    DocumentType,
    EmploymentPlacement,
    EmploymentPlacementKind,
    EmploymentPlacementOutcome,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    HousingPlacement,
    HousingPlacementLivingWith,
    HousingPlacementReunification,
    Programme,
    ProgrammeMembership,
    ProgrammeMembershipRole,
    PsychologicalSession,
    PsychologicalSessionKind,
    SchoolLevel,
    SchoolPlacement,
    StageKind,
    StageRecord,
    StageReport,
    StageStatus,
    StageType,
    RelativeContact,
    TracingMethod,
    TracingOutcome,
)

# (Latin, Cyrillic, Arabic or None)
FEMALE_NAMES = [
    ("Aisha", "Айша", "عائشة"),
    ("Amina", "Амина", "أمينة"),
    ("Madina", "Мадина", "مدينة"),
    ("Fatima", "Фатима", "فاطمة"),
    ("Zainab", "Зайнаб", "زينب"),
    ("Mariam", "Мариям", "مريم"),
    ("Khadija", "Хадиджа", "خديجة"),
    ("Safiya", "Сафия", "صفية"),
    ("Aruzhan", "Аружан", None),
    ("Dana", "Дана", None),
    ("Asel", "Асель", None),
    ("Saule", "Сауле", None),
]
MALE_NAMES = [
    ("Yusuf", "Юсуф", "يوسف"),
    ("Ibrahim", "Ибрагим", "إبراهيم"),
    ("Umar", "Умар", "عمر"),
    ("Ali", "Али", "علي"),
    ("Hamza", "Хамза", "حمزة"),
    ("Bilal", "Билал", "بلال"),
    ("Musa", "Муса", "موسى"),
    ("Idris", "Идрис", "إدريس"),
    ("Timur", "Тимур", None),
    ("Arman", "Арман", None),
    ("Daniyar", "Данияр", None),
    ("Nurlan", "Нурлан", None),
]
# Invented family names ("sample", "fiction", "example", ...): clearly not real people.
RELATIVE_GIVEN_NAMES = ["Aigul", "Serik", "Gulnara", "Bolat", "Zhanar", "Nurlan"]
RELATIVE_RELATIONSHIPS = ["parent", "sibling", "aunt_uncle", "grandparent"]
TRACING_REFUSALS = [
    "Fears the neighbours' reaction (demo).",
    "Does not want contact while the case is open (demo).",
    "Family conflict from before the departure (demo).",
]

FAMILY_NAMES = [
    ("Samplov", "Сэмплов"),
    ("Fictiyev", "Фиктиев"),
    ("Exemplov", "Экземплов"),
    ("Demoyev", "Демоев"),
    ("Placebekov", "Плейсбеков"),
    ("Testbayev", "Тестбаев"),
    ("Mockenov", "Мокенов"),
    ("Dummiyev", "Даммиев"),
]

DEMO_ACCOUNTS = ["admin", "supervisor", "supervisor2", "caseworker", "caseworker2", "legal_officer", "partner"]
# The accounts the admin asks for a second factor (accounts.two_factor): they get a device
# whose key is derived from the seed and printed, so that the demo stays usable.
DEMO_TOTP_ACCOUNTS = ["admin", "supervisor", "supervisor2", "legal_officer"]
DEMO_TOTP_DEVICE_NAME = "Demo authenticator (demo key)"


MAX_FOLLOW_UPS_PER_STAGE = 6
SOUTH_RETENTION_DAYS = 3 * 365
#: Rows per UPDATE when the seed closes finished cases.
BULK_UPDATE_BATCH = 1000

# What the partner agency is asked to do for a referred child, and the note it reads.
REFERRAL_PURPOSES = [
    (ConsentPurpose.PSYCHOSOCIAL, "Psychosocial support for a child (demo)."),
    (ConsentPurpose.SCHOOLING, "Help with school enrolment and language support (demo)."),
    (ConsentPurpose.DOCUMENTS, "Help with a birth certificate issued abroad (demo)."),
    (ConsentPurpose.GENERAL, "Support across the rehabilitation plan (demo)."),
]


@dataclass
class DemoResult:
    passwords: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)


def demo_password(username: str, seed: int) -> str:
    """Demo passwords are derived from the seed and printed; they protect nothing real."""
    return f"{username}-demo-{seed}"


def demo_totp_key(username: str, seed: int) -> str:
    """A TOTP key (hex, 20 bytes) derived from the seed like the demo passwords: printed, protecting nothing real."""
    return hashlib.sha256(f"demo-totp:{username}:{seed}".encode()).hexdigest()[:40]


def demo_totp_devices() -> list[TOTPDevice]:
    return list(
        TOTPDevice.objects.filter(user__username__in=DEMO_TOTP_ACCOUNTS, name=DEMO_TOTP_DEVICE_NAME)
        .select_related("user")
        .order_by("user__username")
    )


def demo_data_reset() -> None:
    """Delete every casework and programme row (demo accounts are kept)."""
    from notifications.models import Notification

    with transaction.atomic():
        for model in (
            Notification,
            FollowUp,
            AccommodationStay,
            PsychologicalSession,
            SchoolPlacement,
            DocumentRequest,
            HousingPlacement,
            RelativeContact,
            EmploymentPlacement,
            Referral,
            StageRecord,
            Enrolment,
            CaseStatusChange,
            ClosureRequest,
            CaseNote,
            Consent,
            Case,
            FamilyMembership,
            Family,
            PersonName,
            PersonIdentifier,
            Person,
            StageType,
            StageReport,
            ProgrammeMembership,
            Programme,
            RepatriationOperation,
        ):
            model.objects.all().delete()
        # The audit trail is append-only and names the agency a partner acted for: an agency
        # it names stays (without members) and the next seed takes it up again by its code.
        Agency.objects.exclude(Exists(AuditEntry.objects.filter(agency_id=OuterRef("pk")))).delete()
        Agency.members.through.objects.all().delete()


class _Builder:
    def __init__(self, *, size: int, seed: int, today: datetime.date, progress: Callable | None):
        self.size = size
        self.seed = seed
        self.rng = random.Random(seed)
        self.today = today
        self.progress = progress
        self.persons: list[Person] = []
        self.names: list[PersonName] = []
        self.identifiers: list[PersonIdentifier] = []
        self.families: list[Family] = []
        self.memberships: list[tuple[int, int, str, str]] = []  # family idx, person idx, relationship, role
        self.cases: list[dict] = []  # {person, family, operation, programme, ...} by index

    # --- accounts, programmes, agencies -------------------------------------------------

    def accounts(self) -> dict[str, str]:
        role_groups_sync()
        User = get_user_model()
        passwords = {}
        users = {}
        for username in DEMO_ACCOUNTS:
            user, _ = User.objects.get_or_create(username=username)
            user.email = f"{username}@demo.rehab.example"
            user.first_name = username.capitalize()
            user.last_name = "(demo)"
            user.is_active = True
            user.is_staff = username != "partner"
            user.is_superuser = username == "admin"
            password = demo_password(username, self.seed)
            user.set_password(password)
            user.save()
            passwords[username] = password
            users[username] = user
        for extra in ("caseworker3", "caseworker4"):
            user, _ = User.objects.get_or_create(
                username=extra, defaults={"email": f"{extra}@demo.rehab.example", "is_staff": True}
            )
            user.set_unusable_password()
            user.save()
            users[extra] = user
        groups = {
            name: Group.objects.get(name=name) for name in (ADMINISTRATORS_GROUP, CASEWORKERS_GROUP, SUPERVISORS_GROUP)
        }
        users["admin"].groups.set([groups[ADMINISTRATORS_GROUP]])
        users["supervisor"].groups.set([groups[SUPERVISORS_GROUP]])
        users["supervisor2"].groups.set([groups[SUPERVISORS_GROUP]])
        # A legal officer works on the programme's cases as staff, with their proceedings.
        for name in ("caseworker", "caseworker2", "caseworker3", "caseworker4", "legal_officer"):
            users[name].groups.set([groups[CASEWORKERS_GROUP]])
        for username in DEMO_TOTP_ACCOUNTS:
            TOTPDevice.objects.update_or_create(
                user=users[username],
                name=DEMO_TOTP_DEVICE_NAME,
                # A fresh start too: no back-off left over from wrong codes in an earlier demo.
                defaults={
                    "key": demo_totp_key(username, self.seed),
                    "confirmed": True,
                    "drift": 0,
                    "last_t": -1,
                    "throttling_failure_count": 0,
                    "throttling_failure_timestamp": None,
                },
            )
        self.users = users
        return passwords

    def programmes(self) -> None:
        self.north = Programme.objects.create(
            code="north", name="Northern region rehabilitation (demo)", country="KZ", time_zone="Asia/Almaty"
        )
        self.south = Programme.objects.create(
            code="south",
            name="Southern region rehabilitation (demo)",
            country="KZ",
            time_zone="Asia/Aqtobe",
            # Shorter than the default, so that the oldest closed cases are due for anonymisation.
            retention_days=SOUTH_RETENTION_DAYS,
        )
        self.stage_types = {}
        for programme in (self.north, self.south):
            services.stage_catalogue_install(programme=programme)
            reports.report_schedule_ensure(programme=programme)
            self.stage_types[programme.pk] = list(programme.stage_types.order_by("position", "code"))
        ProgrammeMembership.objects.bulk_create(
            [
                ProgrammeMembership(
                    programme=self.north, user=self.users["supervisor"], role=ProgrammeMembershipRole.SUPERVISOR
                ),
                ProgrammeMembership(
                    programme=self.north, user=self.users["caseworker"], role=ProgrammeMembershipRole.CASEWORKER
                ),
                ProgrammeMembership(
                    programme=self.north, user=self.users["caseworker3"], role=ProgrammeMembershipRole.CASEWORKER
                ),
                ProgrammeMembership(
                    programme=self.north, user=self.users["legal_officer"], role=ProgrammeMembershipRole.LEGAL_OFFICER
                ),
                ProgrammeMembership(
                    programme=self.south, user=self.users["supervisor2"], role=ProgrammeMembershipRole.SUPERVISOR
                ),
                ProgrammeMembership(
                    programme=self.south, user=self.users["caseworker2"], role=ProgrammeMembershipRole.CASEWORKER
                ),
                ProgrammeMembership(
                    programme=self.south, user=self.users["caseworker4"], role=ProgrammeMembershipRole.CASEWORKER
                ),
            ]
        )
        self.caseworkers = {
            self.north.pk: [self.users["caseworker"], self.users["caseworker"], self.users["caseworker3"]],
            self.south.pk: [self.users["caseworker2"], self.users["caseworker4"]],
        }

    def agencies(self) -> None:
        specs = [
            ("childrens-fund", "Children's Fund field office (demo)", AgencyKind.UN_AGENCY),
            ("red-crescent", "Red Crescent branch (demo)", AgencyKind.RED_CROSS),
            ("school-7", "School No. 7 (demo)", AgencyKind.SCHOOL),
            ("employment-centre", "Employment centre (demo)", AgencyKind.EMPLOYMENT),
            ("civil-registry", "Civil registry office (demo)", AgencyKind.CIVIL_REGISTRY),
        ]
        self.agency = {}
        for code, name, kind in specs:
            defaults = {"name": name, "kind": kind, "is_active": True}
            self.agency[code], _created = Agency.objects.update_or_create(code=code, defaults=defaults)
        self.agency["childrens-fund"].members.add(self.users["partner"])

    def operations(self) -> None:
        # Days before today; old cohorts are mostly done, recent ones are in the centre.
        specs = [
            ("steppe-1", "Operation Steppe 1 (demo)", 1900, "SY", "Camp North (demo)"),
            ("steppe-2", "Operation Steppe 2 (demo)", 1500, "SY", "Camp East (demo)"),
            ("river-1", "Operation River 1 (demo)", 900, "IQ", "Detention centre (demo)"),
            ("steppe-3", "Operation Steppe 3 (demo)", 400, "SY", "Camp North (demo)"),
            ("steppe-4", "Operation Steppe 4 (demo)", 120, "SY", "Camp East (demo)"),
            ("river-2", "Operation River 2 (demo)", 40, "IQ", "Camp West (demo)"),
            ("steppe-5", "Operation Steppe 5 (demo)", 12, "SY", "Camp North (demo)"),
        ]
        self.operations_list = [
            RepatriationOperation.objects.create(
                code=code,
                name=name,
                operation_date=self.today - datetime.timedelta(days=days),
                origin_country=country,
                origin_camp=camp,
                route="Charter flight via a partner air base (demo)",
            )
            for code, name, days, country, camp in specs
        ]

    # --- people ------------------------------------------------------------------------

    def person(self, *, sex: str, age_years: int, family_name: tuple[str, str], on: datetime.date, born_abroad: bool):
        rng = self.rng
        given = rng.choice(FEMALE_NAMES if sex == Sex.FEMALE else MALE_NAMES)
        # Each script its own feminine ending: Latin "a", Cyrillic "а" (U+0430).
        female = sex == Sex.FEMALE
        latin_family = family_name[0] + ("a" if female else "")
        cyrillic_family = family_name[1] + ("\u0430" if female else "")
        birth = on - datetime.timedelta(days=age_years * 365 + rng.randint(0, 364))
        estimated = born_abroad and rng.random() < 0.6
        person = Person(
            given_name=given[0],
            family_name=latin_family,
            sex=sex,
            date_of_birth=birth,
            date_of_birth_estimated=estimated,
            place_of_birth="Abroad (demo)" if born_abroad else "Home region (demo)",
            nationality="KZ",
            languages=(["ar"] if rng.random() < 0.5 else ["ar", "kk"])
            if born_abroad and age_years < 10
            else ["kk", "ru"],
        )
        index = len(self.persons)
        # Who speaks Arabic only needs an interpreter; adults have a (fictional) phone.
        if person.languages == ["ar"]:
            person.interpreter_needed, person.interpreter_language = True, "ar"
        if age_years >= ADULT_AGE:
            person.phone = f"+7 000 {index // 100 % 1000:03d} {index % 100:02d} 00"
        self.persons.append(person)
        self.names.append(
            PersonName(full_name=f"{given[0]} {latin_family}", script=Script.LATIN, kind=NameKind.PRIMARY)
        )
        self.names[-1]._person_index = index
        spellings = [(f"{given[1]} {cyrillic_family}", Script.CYRILLIC)]
        if given[2]:
            spellings.append((given[2], Script.ARABIC))
        for full, script in spellings:
            name = PersonName(full_name=full, script=script, kind=NameKind.SPELLING)
            name._person_index = index
            self.names.append(name)
        if age_years >= ADULT_AGE and rng.random() < 0.4:
            child = rng.choice(MALE_NAMES)
            alias = PersonName(
                full_name=f"Umm {child[0]}" if sex == Sex.FEMALE else f"Abu {child[0]}",
                script=Script.LATIN,
                kind=NameKind.ALIAS,
            )
            alias._person_index = index
            self.names.append(alias)
        if not born_abroad or age_years >= ADULT_AGE:
            identifier = PersonIdentifier(
                kind=IdentifierKind.NATIONAL_ID, value=f"DEMO{self.seed % 100:02d}{index:08d}", issuing_country="KZ"
            )
            identifier._person_index = index
            self.identifiers.append(identifier)
        return index

    def households(self) -> None:
        rng = self.rng
        returnees = 0
        family_no = 0
        while returnees < self.size:
            family_no += 1
            operation = rng.choices(self.operations_list, weights=[10, 12, 8, 12, 10, 8, 6])[0]
            arrival = operation.operation_date
            programme = self.north if rng.random() < 0.7 else self.south
            family_name = rng.choice(FAMILY_NAMES)
            family_index = len(self.families)
            self.families.append(
                Family(reference=f"F-{family_no:05d}", label=f"{family_name[0]} household (demo)", operation=operation)
            )
            members: list[tuple[int, str, str]] = []  # person idx, relationship, role
            shape = rng.choices(["mother", "father", "unaccompanied", "single"], weights=[78, 8, 7, 7])[0]
            if shape in ("mother", "single"):
                members.append(
                    (
                        self.person(
                            sex=Sex.FEMALE,
                            age_years=rng.randint(19, 42),
                            family_name=family_name,
                            on=arrival,
                            born_abroad=False,
                        ),
                        "head",
                        "returnee",
                    )
                )
            if shape == "father":
                members.append(
                    (
                        self.person(
                            sex=Sex.MALE,
                            age_years=rng.randint(22, 48),
                            family_name=family_name,
                            on=arrival,
                            born_abroad=False,
                        ),
                        "head",
                        "returnee",
                    )
                )
                if rng.random() < 0.5:
                    members.append(
                        (
                            self.person(
                                sex=Sex.FEMALE,
                                age_years=rng.randint(19, 40),
                                family_name=family_name,
                                on=arrival,
                                born_abroad=False,
                            ),
                            "spouse",
                            "returnee",
                        )
                    )
            if shape == "unaccompanied":
                members.append(
                    (
                        self.person(
                            sex=Sex.FEMALE,
                            age_years=rng.randint(50, 70),
                            family_name=family_name,
                            on=arrival,
                            born_abroad=False,
                        ),
                        "head",
                        "receiving_relative",
                    )
                )
            children = {
                "mother": rng.randint(1, 5),
                "father": rng.randint(0, 3),
                "unaccompanied": rng.randint(1, 3),
                "single": 0,
            }[shape]
            for _ in range(children):
                age = rng.randint(0, 16)
                # Children younger than the years spent abroad were born there.
                born_abroad = age <= 7
                relationship = "grandchild" if shape == "unaccompanied" else "child"
                members.append(
                    (
                        self.person(
                            sex=rng.choice([Sex.FEMALE, Sex.MALE]),
                            age_years=age,
                            family_name=family_name,
                            on=arrival,
                            born_abroad=born_abroad,
                        ),
                        relationship,
                        "returnee",
                    )
                )
            if shape in ("mother", "father") and rng.random() < 0.5:
                members.append(
                    (
                        self.person(
                            sex=rng.choice([Sex.FEMALE, Sex.MALE]),
                            age_years=rng.randint(45, 70),
                            family_name=family_name,
                            on=arrival,
                            born_abroad=False,
                        ),
                        "parent",
                        "receiving_relative",
                    )
                )
            caseworker = rng.choice(self.caseworkers[programme.pk])
            for person_index, relationship, role in members:
                self.memberships.append((family_index, person_index, relationship, role))
                if role == "returnee":
                    returnees += 1
                    self.cases.append(
                        {
                            "person": person_index,
                            "family": family_index,
                            "operation": operation,
                            "programme": programme,
                            "caseworker": caseworker,
                            "arrival": arrival,
                        }
                    )
            if self.progress:
                self.progress(len(members) - sum(1 for m in members if m[2] != "returnee"))

    def save_people(self) -> None:
        # bulk_create skips save(): set the search keys here.
        for row in (*self.persons, *self.names):
            row.search_key = name_key(row.full_name)
        Person.objects.bulk_create(self.persons, batch_size=500)
        for row in (*self.names, *self.identifiers):
            row.person = self.persons[row._person_index]
        for row in self.identifiers:
            row.value_digest = identifier_digest(row.value)
        PersonName.objects.bulk_create(self.names, batch_size=1000)
        PersonIdentifier.objects.bulk_create(self.identifiers, batch_size=1000)
        Family.objects.bulk_create(self.families, batch_size=500)
        # One receiving relative per family, fictional, from the family's own name.
        ReceivingRelative.objects.bulk_create(
            [
                ReceivingRelative(
                    family=family,
                    name=f"{RELATIVE_GIVEN_NAMES[number % len(RELATIVE_GIVEN_NAMES)]} "
                    f"{family.label.split(' ')[0]} (demo relative)",
                    relationship=RELATIVE_RELATIONSHIPS[number % len(RELATIVE_RELATIONSHIPS)],
                    phone=f"+7 000 9{number // 100 % 100:02d} {number % 100:02d} 11",
                    address=f"{number % 90 + 1} Relatives lane, Demo town",
                )
                for number, family in enumerate(self.families)
            ],
            batch_size=500,
        )
        FamilyMembership.objects.bulk_create(
            [
                FamilyMembership(family=self.families[f], person=self.persons[p], relationship=rel, role=role)
                for f, p, rel, role in self.memberships
            ],
            batch_size=1000,
        )

    # --- cases and stage plans --------------------------------------------------------

    def save_cases(self) -> None:
        rng = self.rng
        counters: dict[tuple[str, int], int] = {}
        case_rows = []
        for spec in self.cases:
            person = self.persons[spec["person"]]
            adult = person.age_on(spec["arrival"]) >= ADULT_AGE
            legal = LegalStatus.NONE
            if adult and person.sex == Sex.MALE:
                legal = rng.choice([LegalStatus.CONVICTED, LegalStatus.SERVING_SENTENCE, LegalStatus.RELEASED])
            elif adult and rng.random() < 0.15:
                legal = rng.choice([LegalStatus.UNDER_INVESTIGATION, LegalStatus.RELEASED])
            key = (spec["programme"].code, spec["arrival"].year)
            counters[key] = counters.get(key, 0) + 1
            case_rows.append(
                Case(
                    reference=f"{spec['programme'].code[0].upper()}-{spec['arrival'].year}-{counters[key]:05d}",
                    person=person,
                    family=self.families[spec["family"]],
                    operation=spec["operation"],
                    caseworker=spec["caseworker"],
                    status=CaseStatus.OPEN,
                    risk_level=rng.choices(RiskLevel.values, weights=[50, 35, 15] if adult else [70, 25, 5])[0],
                    legal_status=legal,
                    arrival_date=spec["arrival"],
                    opened_on=spec["arrival"],
                    # Enrolled just below, each one: marked here rather than updated after.
                    enrolled=True,
                )
            )
        Case.objects.bulk_create(case_rows, batch_size=500)
        self.case_rows = case_rows
        enrolments = [
            Enrolment(
                case=case,
                programme=spec["programme"],
                enrolled_on=spec["arrival"],
                enrolled_by=spec["caseworker"],
            )
            for case, spec in zip(case_rows, self.cases)
        ]
        Enrolment.objects.bulk_create(enrolments, batch_size=500)
        self.enrolments = enrolments
        stages = []
        for enrolment in enrolments:
            planned = services.stage_plan_build(
                enrolment=enrolment, stage_types=self.stage_types[enrolment.programme_id]
            )
            for stage in planned:
                self.roll_stage(stage)
            stages.extend(planned)
        self.close_finished_cases(enrolments, stages)
        StageRecord.objects.bulk_create(stages, batch_size=1000)
        self.stages = stages

    def roll_stage(self, stage: StageRecord) -> None:
        """Give a planned stage a status and dates as if the programme had been running."""
        rng, today = self.rng, self.today
        if stage.planned_start > today:
            return
        duration = (stage.due_date - stage.planned_start).days
        past_due = stage.due_date < today
        roll = rng.random()
        started = min(stage.planned_start + datetime.timedelta(days=rng.randint(0, 4)), today)
        if past_due and roll < 0.70:
            stage.status = StageStatus.COMPLETED
            stage.started_on = started
            stage.completed_on = min(
                started + datetime.timedelta(days=rng.randint(duration // 2, duration + 10)), today
            )
            stage.outcome = "Completed as planned (demo)."
        elif past_due and roll < 0.78 or not past_due and roll < 0.08:
            stage.status = StageStatus.BLOCKED
            stage.started_on = started
            stage.status_reason = rng.choice(
                [
                    "Waiting for the civil registry (demo).",
                    "Relatives not reachable (demo).",
                    "No place available (demo).",
                ]
            )
        elif past_due and roll < 0.85:
            stage.status = StageStatus.DISCONTINUED
            stage.started_on = started
            stage.status_reason = "Moved to another region (demo)."
        elif not past_due and roll > 0.93:
            return  # planned start passed but not started yet
        else:
            stage.status = StageStatus.ACTIVE
            stage.started_on = started

    def close_finished_cases(self, enrolments, stages) -> None:
        by_enrolment: dict[int, list[StageRecord]] = {}
        for stage in stages:
            by_enrolment.setdefault(stage.enrolment_id, []).append(stage)
        for enrolment in enrolments:
            own = by_enrolment.get(enrolment.pk, [])
            done = own and all(s.status in (StageStatus.COMPLETED, StageStatus.DISCONTINUED) for s in own)
            if done and self.rng.random() < 0.6:
                closed_on = max(s.completed_on or s.started_on for s in own)
                case = enrolment.case
                case.status = CaseStatus.CLOSED
                case.closed_on = max(closed_on, case.opened_on)
                enrolment.status = EnrolmentStatus.COMPLETED
                enrolment.ended_on = max(closed_on, enrolment.enrolled_on)
        # In batches: one UPDATE of every row at once grows with the square of the rows
        # (a CASE of every id for every row), minutes at 100,000 people.
        Case.objects.bulk_update(
            [e.case for e in enrolments if e.case.status == CaseStatus.CLOSED],
            ["status", "closed_on"],
            batch_size=BULK_UPDATE_BATCH,
        )
        Enrolment.objects.bulk_update(
            [e for e in enrolments if e.status == EnrolmentStatus.COMPLETED],
            ["status", "ended_on"],
            batch_size=BULK_UPDATE_BATCH,
        )

    # --- stage details and follow-ups -------------------------------------------------

    def tracing(self, stage, reunification: str, rng: random.Random) -> list:
        """The relatives contacted for a housing stage, matching its reunification state."""
        outcomes = {
            "pending": [TracingOutcome.PENDING],
            "reunited": [TracingOutcome.AGREES],
            "partial": [TracingOutcome.AGREES, rng.choice([TracingOutcome.REFUSES, TracingOutcome.UNREACHABLE])],
            "refused": [TracingOutcome.REFUSES] * rng.randint(1, 3),
        }[reunification]
        contacts = []
        for number, outcome in enumerate(outcomes):
            relationship = RELATIVE_RELATIONSHIPS[(stage.pk + number) % len(RELATIVE_RELATIONSHIPS)]
            contacts.append(
                RelativeContact(
                    stage=stage,
                    relative_name=f"{rng.choice(RELATIVE_GIVEN_NAMES)} (demo relative {number + 1})",
                    relationship=relationship,
                    method=rng.choice(TracingMethod.values),
                    contacted_on=stage.started_on + datetime.timedelta(days=number * 7),
                    outcome=outcome,
                    reason=rng.choice(TRACING_REFUSALS)
                    if outcome == TracingOutcome.REFUSES
                    else (
                        "No answer at the last known number (demo)." if outcome == TracingOutcome.UNREACHABLE else ""
                    ),
                )
            )
        return contacts

    def details(self) -> None:
        rng, today = self.rng, self.today
        rows: dict[type, list] = {
            model: []
            for model in (
                AccommodationStay,
                PsychologicalSession,
                SchoolPlacement,
                DocumentRequest,
                HousingPlacement,
                RelativeContact,
                EmploymentPlacement,
                FollowUp,
            )
        }
        # Its own generator, so that adding tracing rows left the rest of the data as it was.
        tracing_rng = random.Random(self.seed + 1)
        for stage in self.stages:
            if stage.status == StageStatus.PLANNED:
                continue
            kind = stage.stage_type.kind
            case = stage.enrolment.case
            person = case.person
            age = person.age_on(stage.started_on)
            end = stage.completed_on or today
            if kind == StageKind.ACCOMMODATION:
                rows[AccommodationStay].append(
                    AccommodationStay(
                        stage=stage,
                        centre=f"Adaptation centre, {stage.enrolment.programme.code} (demo)",
                        arrived_on=case.arrival_date,
                        exited_on=stage.completed_on,
                    )
                )
            elif kind == StageKind.PSYCHOLOGICAL:
                rows[PsychologicalSession].append(
                    PsychologicalSession(
                        stage=stage,
                        kind=PsychologicalSessionKind.ASSESSMENT,
                        held_on=stage.started_on,
                        instrument="SDQ" if age < ADULT_AGE else "PHQ-9",
                        score=rng.randint(4, 24),
                        practitioner="Centre psychologist (demo)",
                    )
                )
                day = stage.started_on + datetime.timedelta(days=14)
                while day <= end:
                    rows[PsychologicalSession].append(
                        PsychologicalSession(stage=stage, held_on=day, practitioner="Centre psychologist (demo)")
                    )
                    day += datetime.timedelta(days=rng.randint(14, 28))
                    if (day - stage.started_on).days > 200:
                        break
            elif kind == StageKind.SCHOOLING and stage.status in (StageStatus.ACTIVE, StageStatus.COMPLETED):
                level = (
                    SchoolLevel.SCHOOL
                    if age >= 6
                    else (SchoolLevel.PRESCHOOL if age >= 4 else SchoolLevel.KINDERGARTEN)
                )
                rows[SchoolPlacement].append(
                    SchoolPlacement(
                        stage=stage,
                        institution="School No. 7 (demo)"
                        if level == SchoolLevel.SCHOOL
                        else "Kindergarten No. 3 (demo)",
                        level=level,
                        grade=min(max(age - 5, 1), 12) if level == SchoolLevel.SCHOOL else None,
                        language_support="ar" in person.languages,
                        enrolled_on=stage.started_on,
                    )
                )
            elif kind == StageKind.DOCUMENTS:
                wanted = [DocumentType.BIRTH_CERTIFICATE] if person.place_of_birth.startswith("Abroad") else []
                if age >= ADULT_AGE:
                    wanted += [DocumentType.PASSPORT, DocumentType.NATIONAL_ID]
                elif age >= 16:
                    wanted += [DocumentType.NATIONAL_ID]
                for document_type in wanted:
                    issued = stage.status == StageStatus.COMPLETED or (
                        stage.status == StageStatus.ACTIVE and rng.random() < 0.3
                    )
                    status = (
                        DocumentRequestStatus.ISSUED
                        if issued
                        else rng.choice([DocumentRequestStatus.REQUESTED, DocumentRequestStatus.SUBMITTED])
                    )
                    if stage.status == StageStatus.BLOCKED and rng.random() < 0.5:
                        status = DocumentRequestStatus.REFUSED
                    issued_on = (
                        min(stage.started_on + datetime.timedelta(days=rng.randint(10, 60)), end) if issued else None
                    )
                    rows[DocumentRequest].append(
                        DocumentRequest(
                            stage=stage,
                            document_type=document_type,
                            status=status,
                            requested_on=stage.started_on,
                            issued_on=issued_on,
                            number=f"DEMO-{rng.randint(100000, 999999)}" if issued else "",
                        )
                    )
            elif kind == StageKind.HOUSING and stage.status in (StageStatus.ACTIVE, StageStatus.COMPLETED):
                reunification = rng.choices(HousingPlacementReunification.values[:4], weights=[20, 50, 20, 10])[0]
                rows[HousingPlacement].append(
                    HousingPlacement(
                        stage=stage,
                        address=f"{rng.randint(1, 99)} Sample street, Demo town",
                        settlement="Demo town",
                        living_with=rng.choices(HousingPlacementLivingWith.values, weights=[70, 5, 10, 10, 5])[0],
                        reunification=reunification,
                        moved_in_on=stage.started_on,
                    )
                )
                rows[RelativeContact].extend(self.tracing(stage, reunification, tracing_rng))
            elif kind == StageKind.EMPLOYMENT and stage.status in (StageStatus.ACTIVE, StageStatus.COMPLETED):
                job = rng.random() < 0.4
                rows[EmploymentPlacement].append(
                    EmploymentPlacement(
                        stage=stage,
                        kind=EmploymentPlacementKind.JOB if job else EmploymentPlacementKind.TRAINING,
                        organisation="Sewing workshop (demo)" if job else "Vocational college (demo)",
                        started_on=stage.started_on,
                        ended_on=stage.completed_on,
                        outcome=EmploymentPlacementOutcome.COMPLETED
                        if stage.completed_on
                        else EmploymentPlacementOutcome.ONGOING,
                    )
                )
            if stage.status == StageStatus.ACTIVE and stage.stage_type.follow_up_interval_days:
                rows[FollowUp].extend(self.follow_ups(stage))
            elif (
                stage.status in (StageStatus.COMPLETED, StageStatus.DISCONTINUED)
                and stage.stage_type.follow_up_interval_days
            ):
                rows[FollowUp].extend(self.past_follow_ups(stage))
        for model, objs in rows.items():
            model.objects.bulk_create(objs, batch_size=1000)
        self.counts = {model.__name__: len(objs) for model, objs in rows.items()}

    def follow_ups(self, stage: StageRecord) -> list[FollowUp]:
        """Past follow-ups done, the latest past one sometimes missed (overdue), one ahead."""
        interval = datetime.timedelta(days=stage.stage_type.follow_up_interval_days)
        kind = FOLLOW_UP_KIND_BY_STAGE[stage.stage_type.kind]
        assignee = stage.enrolment.case.caseworker
        days = []
        day = stage.started_on + interval
        while day <= self.today:
            days.append(day)
            day += interval
        days = days[-(MAX_FOLLOW_UPS_PER_STAGE - 1) :]
        missed_last = bool(days) and self.rng.random() < 0.3
        follow_ups = []
        for i, due in enumerate(days):
            if missed_last and i == len(days) - 1:
                follow_ups.append(FollowUp(stage=stage, kind=kind, due_date=due, assignee=assignee))
            else:
                follow_ups.append(
                    FollowUp(
                        stage=stage,
                        kind=kind,
                        due_date=due,
                        assignee=assignee,
                        done_on=due,
                        outcome="Held as planned; no concerns (demo).",
                    )
                )
        if not missed_last:
            follow_ups.append(FollowUp(stage=stage, kind=kind, due_date=day, assignee=assignee))
        return follow_ups

    def past_follow_ups(self, stage: StageRecord) -> list[FollowUp]:
        """The follow-ups of a stage that has ended: done while it ran, the one after it cancelled."""
        interval = datetime.timedelta(days=stage.stage_type.follow_up_interval_days)
        kind = FOLLOW_UP_KIND_BY_STAGE[stage.stage_type.kind]
        assignee = stage.enrolment.case.caseworker
        end = stage.completed_on or min(stage.started_on + interval * MAX_FOLLOW_UPS_PER_STAGE, self.today)
        follow_ups = []
        day = stage.started_on + interval
        while day <= end and len(follow_ups) < MAX_FOLLOW_UPS_PER_STAGE - 1:
            outcome = self.rng.choice(
                [
                    "Held as planned; no concerns (demo).",
                    "Held; the family asked for help with school (demo).",
                    "Held by phone; settling well (demo).",
                ]
            )
            follow_ups.append(
                FollowUp(stage=stage, kind=kind, due_date=day, assignee=assignee, done_on=day, outcome=outcome)
            )
            day += interval
        follow_ups.append(FollowUp(stage=stage, kind=kind, due_date=day, assignee=assignee, cancelled_on=end))
        return follow_ups

    def closures(self) -> None:
        """Closed cases as the workflow leaves them: a request approved by a supervisor (an
        administrator where the programme has none), the status change, a closing note."""
        supervisor_of = {self.north.pk: self.users["supervisor"], self.south.pk: self.users["admin"]}
        requests, changes, notes = [], [], []
        for case, spec in zip(self.case_rows, self.cases):
            if case.status != CaseStatus.CLOSED:
                continue
            decided = datetime.datetime.combine(case.closed_on, datetime.time(10), tzinfo=datetime.UTC)
            requests.append(
                ClosureRequest(
                    case=case,
                    requested_by=spec["caseworker"],
                    requested_at=decided - datetime.timedelta(days=2),
                    reason=self.rng.choice(
                        [
                            "Every stage is done; the family is settled (demo).",
                            "Moved in with relatives; no further support needed (demo).",
                        ]
                    ),
                    status=ClosureRequestStatus.APPROVED,
                    decided_by=supervisor_of[spec["programme"].pk],
                    decided_at=decided,
                    comment="Agreed (demo).",
                )
            )
            notes.append(
                CaseNote(case=case, author=spec["caseworker"], body="Closing visit held; the family is settled (demo).")
            )
        ClosureRequest.objects.bulk_create(requests, batch_size=1000)
        for request in requests:
            changes.append(
                CaseStatusChange(
                    case=request.case,
                    from_status=CaseStatus.OPEN,
                    to_status=CaseStatus.CLOSED,
                    by=request.decided_by,
                    at=request.decided_at,
                    note=request.reason,
                    closure_request=request,
                )
            )
        CaseStatusChange.objects.bulk_create(changes, batch_size=1000)
        CaseNote.objects.bulk_create(notes, batch_size=1000)
        self.counts.update(ClosureRequest=len(requests))

    # --- consent, referrals, notes ----------------------------------------------------

    def sharing(self) -> None:
        """Consents and referrals of northern children to the partner agency, for several
        purposes and in every answer: the partner sees the stages an accepted referral's
        purpose covers, the case alone while it is pending, nothing once it is over."""
        rng = self.rng
        consents, referrals, notes = [], [], []
        partner_agency = self.agency["childrens-fund"]
        for case, spec in zip(self.case_rows, self.cases):
            if case.status == CaseStatus.CLOSED:
                continue
            person = case.person
            child = person.age_on(self.today) < ADULT_AGE
            if rng.random() < 0.3:
                notes.append(
                    CaseNote(
                        case=case,
                        author=spec["caseworker"],
                        body="Weekly check-in held; the family is settling (demo).",
                    )
                )
            if not (child and spec["programme"] is self.north) or rng.random() > 0.4:
                continue
            withdrawn = rng.random() < 0.1
            purpose, note = rng.choices(REFERRAL_PURPOSES, weights=[50, 25, 15, 10])[0]
            consent = Consent(
                person=person,
                agency=partner_agency,
                purpose=purpose,
                given_by=ConsentGivenBy.GUARDIAN,
                guardian_name="Mother of the child (demo)",
                given_on=case.arrival_date,
                withdrawn_on=self.today - datetime.timedelta(days=3) if withdrawn else None,
                recorded_by=spec["caseworker"],
            )
            consents.append(consent)
            status = rng.choices(
                [ReferralStatus.ACCEPTED, ReferralStatus.PENDING, ReferralStatus.COMPLETED, ReferralStatus.DECLINED],
                weights=[55, 20, 15, 10],
            )[0]
            referrals.append(
                Referral(
                    case=case,
                    agency=partner_agency,
                    purpose=purpose,
                    consent=consent,
                    status=status,
                    referred_by=spec["caseworker"],
                    referred_on=case.arrival_date,
                    responded_on=None if status == ReferralStatus.PENDING else case.arrival_date,
                    note=note,
                )
            )
        Consent.objects.bulk_create(consents, batch_size=1000)
        Referral.objects.bulk_create(referrals, batch_size=1000)
        CaseNote.objects.bulk_create(notes, batch_size=1000)
        self.counts.update(Consent=len(consents), Referral=len(referrals), CaseNote=len(notes))


def demo_accounts_ensure(*, seed: int = 2026) -> dict[str, str]:
    """Create or refresh only the demo accounts (for a database that already has demo data)."""
    from django.utils import timezone

    with transaction.atomic():
        return _Builder(size=0, seed=seed, today=timezone.localdate(), progress=None).accounts()


def demo_seed(
    *,
    size: int = 700,
    seed: int = 2026,
    today: datetime.date | None = None,
    progress: Callable | None = None,
    phase: Callable[[str], None] | None = None,
) -> DemoResult:
    """Create the demo accounts and a caseload of about ``size`` returnees, in one transaction.
    ``progress(n)`` counts the returnees drawn; ``phase(name)`` is told each writing step as
    it starts (the steps after the drawing, which a large caseload spends minutes in)."""
    from django.utils import timezone

    builder = _Builder(size=size, seed=seed, today=today or timezone.localdate(), progress=progress)
    with transaction.atomic():
        passwords = builder.accounts()
        builder.programmes()
        builder.agencies()
        builder.operations()
        builder.households()
        for name, write in (
            ("people, spellings, identifiers and families", builder.save_people),
            ("cases, enrolments and stage plans", builder.save_cases),
            ("stage details and follow-ups", builder.details),
            ("closures", builder.closures),
            ("consents and referrals", builder.sharing),
        ):
            if phase:
                phase(name)
            write()
    counts = {
        "Person": len(builder.persons),
        "Family": len(builder.families),
        "Case": len(builder.case_rows),
        "StageRecord": len(builder.stages),
        **builder.counts,
    }
    return DemoResult(passwords=passwords, counts=counts)
