"""Benchmark: importing a cohort of 10,000 rows against 100,000 people on file, on PostgreSQL.

Usage (a throw-away database; it is dropped and re-created):

    createdb -h 127.0.0.1 -U postgres rehab_bench_import   # once
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rehab_bench_import \\
    .venv/bin/python bench/bench_import.py [--rows 10000] [--persons 100000]

It records ``--persons`` fictional people (primary names in Latin, a Cyrillic
spelling for half of them), each with a case enrolled in the benchmark
programme, so that the importing caseworker sees them all. Then it writes a
cohort file of ``--rows`` rows (households of 1 to 6 people, names in Latin,
Cyrillic and Arabic script, other spellings, some dates of birth given as a
year or an age, some identity documents), with about 3 % of the households
headed by someone deliberately close to a person on file (another script, a
date a few days off), and imports it as ``import_cohort`` does, timing each
step of ``lifecycle.cohort_import``:

- validation of every row and household (nothing written);
- the duplicate check of every household (the service's own check with it);
- registration of the households without candidates (the others are put in
  the review queue).

Peak memory is Python's own (``tracemalloc``) over the three steps, and the
process's peak resident size (``ru_maxrss``). For scale, the same rows are
then loaded with PostgreSQL's ``COPY`` into a bare table of text columns.

``run`` does the work on the database Django is connected to, without dropping
anything; the test suite calls it with small sizes so that the script keeps working.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import random
import resource
import sys
import time
import tracemalloc

from common import bench_programme, fresh_schema, step
from django.db import connection

# Fictional names: common given names (36 a sex: with fewer, a file would mostly find
# namesakes among 100,000 people), and family names made of three syllables drawn at
# random, each in Latin, Cyrillic and Arabic script.
GIVEN = {
    "female": [
        ("Aisha", "Айша", "عائشة"),
        ("Zeinab", "Зейнаб", "زينب"),
        ("Mariam", "Мариам", "مريم"),
        ("Khadija", "Хадиджа", "خديجة"),
        ("Fatima", "Фатима", "فاطمة"),
        ("Amina", "Амина", "أمينة"),
        ("Laila", "Лейла", "ليلى"),
        ("Safia", "Сафия", "صفية"),
        ("Asiya", "Асия", "آسيا"),
        ("Hafsa", "Хафса", "حفصة"),
        ("Ruqaya", "Рукая", "رقية"),
        ("Salima", "Салима", "سليمة"),
        ("Dana", "Дана", "دانة"),
        ("Aigerim", "Айгерим", "آيجريم"),
        ("Madina", "Мадина", "مدينة"),
        ("Zarina", "Зарина", "زارينا"),
        ("Gulnara", "Гульнара", "جولنارا"),
        ("Saule", "Сауле", "ساولة"),
        ("Ainur", "Айнур", "آينور"),
        ("Dilnaz", "Дильназ", "دلناز"),
        ("Kamila", "Камила", "كاملة"),
        ("Sabina", "Сабина", "سابينا"),
        ("Nargiza", "Наргиза", "نرجيزا"),
        ("Malika", "Малика", "مليكة"),
        ("Yasmin", "Ясмин", "ياسمين"),
        ("Samira", "Самира", "سميرة"),
        ("Nadia", "Надия", "نادية"),
        ("Rania", "Рания", "رانيا"),
        ("Huda", "Худа", "هدى"),
        ("Inzhu", "Инжу", "إنجو"),
        ("Tomiris", "Томирис", "توميريس"),
        ("Akmaral", "Акмарал", "أكمارال"),
        ("Balnur", "Балнур", "بالنور"),
        ("Elmira", "Эльмира", "إلميرا"),
        ("Farida", "Фарида", "فريدة"),
        ("Rashida", "Рашида", "رشيدة"),
    ],
    "male": [
        ("Muhammad", "Мухаммед", "محمد"),
        ("Ibrahim", "Ибрагим", "إبراهيم"),
        ("Omar", "Умар", "عمر"),
        ("Yusuf", "Юсуф", "يوسف"),
        ("Ali", "Али", "علي"),
        ("Hasan", "Хасан", "حسن"),
        ("Bilal", "Билал", "بلال"),
        ("Ismail", "Исмаил", "إسماعيل"),
        ("Khalid", "Халид", "خالد"),
        ("Tariq", "Тарик", "طارق"),
        ("Idris", "Идрис", "إدريس"),
        ("Salim", "Салим", "سليم"),
        ("Arman", "Арман", "أرمان"),
        ("Daniyar", "Данияр", "دانيار"),
        ("Nurlan", "Нурлан", "نورلان"),
        ("Yerlan", "Ерлан", "يرلان"),
        ("Timur", "Тимур", "تيمور"),
        ("Ruslan", "Руслан", "روسلان"),
        ("Aslan", "Аслан", "أصلان"),
        ("Murat", "Мурат", "مراد"),
        ("Bakhyt", "Бахыт", "بخيت"),
        ("Serik", "Серик", "سيريك"),
        ("Kairat", "Кайрат", "كايرات"),
        ("Askar", "Аскар", "عسكر"),
        ("Zhandos", "Жандос", "جاندوس"),
        ("Anuar", "Ануар", "أنوار"),
        ("Rashid", "Рашид", "رشيد"),
        ("Jamal", "Джамал", "جمال"),
        ("Karim", "Карим", "كريم"),
        ("Nasir", "Насир", "ناصر"),
        ("Samir", "Самир", "سمير"),
        ("Zakir", "Закир", "ذاكر"),
        ("Farid", "Фарид", "فريد"),
        ("Hamza", "Хамза", "حمزة"),
        ("Adil", "Адиль", "عادل"),
        ("Emir", "Эмир", "أمير"),
    ],
}
SYLLABLES = [
    ("ka", "ка", "كا"),
    ("ri", "ри", "ري"),
    ("mo", "мо", "مو"),
    ("ta", "та", "تا"),
    ("su", "су", "سو"),
    ("ne", "не", "ني"),
    ("la", "ла", "لا"),
    ("bi", "би", "بي"),
    ("do", "до", "دو"),
    ("fe", "фе", "في"),
    ("zu", "зу", "زو"),
    ("gan", "ган", "قان"),
    ("ro", "ро", "رو"),
    ("mi", "ми", "مي"),
    ("sa", "са", "سا"),
    ("tu", "ту", "تو"),
    ("ve", "ве", "في"),
    ("po", "по", "بو"),
    ("ni", "ни", "ني"),
    ("ha", "ха", "ها"),
    ("du", "ду", "دو"),
    ("ke", "ке", "كي"),
    ("li", "ли", "لي"),
    ("bo", "бо", "بو"),
    ("ar", "ар", "ار"),
    ("ze", "зе", "زي"),
    ("ku", "ку", "كو"),
    ("ma", "ма", "ما"),
    ("te", "те", "تي"),
    ("gul", "гуль", "قول"),
    ("bek", "бек", "بك"),
    ("nur", "нур", "نور"),
    ("tal", "тал", "تال"),
    ("zhan", "жан", "جان"),
    ("ker", "кер", "كير"),
    ("dar", "дар", "دار"),
    ("sul", "сул", "سول"),
    ("pan", "пан", "بان"),
]
ENDING = {"female": ("ova", "ова", "وفا"), "male": ("ov", "ов", "وف")}
CHILD_RELATIONSHIPS = ["child", "child", "child", "sibling", "other"]


def family_name(rng: random.Random, sex: str) -> tuple[str, str, str]:
    parts = [*rng.sample(SYLLABLES, 3), ENDING[sex]]
    latin, cyrillic, arabic = ("".join(part[i] for part in parts) for i in range(3))
    return latin.capitalize(), cyrillic.capitalize(), arabic


def build_people(persons: int, programme, worker, rng: random.Random, batch: int = 5000) -> list[tuple]:
    """``persons`` people with a Cyrillic spelling for every second one, each with a case
    enrolled in ``programme``; returns (given, family, sex, date of birth) of each, in
    Latin and Cyrillic, for the file's near-duplicates."""
    from casework.models import Case, NameKind, Person, PersonName, Script
    from casework.names import name_key
    from programmes.models import Enrolment

    today = programme.local_today()
    people = []
    for start in range(0, persons, batch):
        chunk = []
        for _n in range(start, min(start + batch, persons)):
            sex = rng.choice(("female", "male"))
            given = rng.choice(GIVEN[sex])
            family = family_name(rng, sex)
            born = today - datetime.timedelta(days=rng.randint(365, 70 * 365))
            chunk.append((given, family, sex, born))
        rows = Person.objects.bulk_create(
            Person(
                given_name=given[0],
                family_name=family[0],
                sex=sex,
                date_of_birth=born,
                nationality="KZ",
                languages=["kk", "ru"],
                search_key=name_key(f"{given[0]} {family[0]}"),
            )
            for given, family, sex, born in chunk
        )
        PersonName.objects.bulk_create(
            PersonName(
                person=person,
                full_name=f"{given[1]} {family[1]}",
                script=Script.CYRILLIC,
                kind=NameKind.SPELLING,
                search_key=name_key(f"{given[1]} {family[1]}"),
            )
            for person, (given, family, _sex, _born) in zip(rows, chunk)
            if person.pk % 2 == 0
        )
        cases = Case.objects.bulk_create(
            Case(
                reference=f"B-{person.pk}",
                person=person,
                caseworker=worker,
                arrival_date=today - datetime.timedelta(days=400),
                opened_on=today - datetime.timedelta(days=400),
            )
            for person in rows
        )
        Enrolment.objects.bulk_create(
            Enrolment(case=case, programme=programme, enrolled_on=case.opened_on) for case in cases
        )
        people += chunk
    return people


def cohort_rows(
    rows: int, people: list[tuple], today: datetime.date, rng: random.Random, near: float = 0.03
) -> list[dict]:
    """``rows`` rows of fictional households; a share ``near`` of the heads is close to one of ``people``."""
    out: list[dict] = []
    household = 0
    while len(out) < rows:
        household += 1
        size = min(rng.randint(1, 6), rows - len(out))
        key = f"H{household:05d}"
        arrival = (today - datetime.timedelta(days=rng.randint(1, 30))).isoformat()
        camp = rng.choice(["", "", "Camp Fiktiv, sector 3", "Camp Obrazets, block B"])
        relative = rng.choice(["", "Dana Fiktova", "Нурлан Фиктов"])
        phone = "+7 700 000 00 00" if relative else ""
        close = bool(people) and rng.random() < near
        head_sex = rng.choice(("female", "male"))
        surname = family_name(rng, head_sex)
        for position in range(size):
            sex = head_sex if position == 0 else rng.choice(("female", "male"))
            script = rng.randrange(3)
            given = rng.choice(GIVEN[sex])
            family = surname if sex == head_sex else family_name_for(surname, sex)
            if position == 0:
                born = today - datetime.timedelta(days=rng.randint(20 * 365, 50 * 365))
            else:
                born = today - datetime.timedelta(days=rng.randint(200, 17 * 365))
            if position == 0 and close:
                # Someone on file, typed in another script with a date a few days off.
                given, family, sex, born = rng.choice(people)
                script = rng.choice((1, 2))
                born = born + datetime.timedelta(days=rng.randint(-5, 5))
            date_of_birth, age = born.isoformat(), ""
            roll = rng.random()
            if roll < 0.1:
                date_of_birth = str(born.year)
            elif roll < 0.2:
                date_of_birth, age = "", str(max((today - born).days // 365, 0))
            others = [given[i] + " " + family[i] for i in range(3) if i != script and rng.random() < 0.5]
            identifier = rng.random() < 0.3
            out.append(
                {
                    "household": key,
                    "relationship": "head" if position == 0 else rng.choice(CHILD_RELATIONSHIPS),
                    "given_name": given[script],
                    "family_name": family[script],
                    "patronymic": "",
                    "other_spellings": "|".join(others),
                    "sex": sex,
                    "date_of_birth": date_of_birth,
                    "age": age,
                    "nationality": "KZ",
                    "languages": rng.choice(["kk|ru", "ru", "ar|ru", ""]),
                    "identifier_kind": "camp_registration" if identifier else "",
                    "identifier_value": f"FIKT-{household:05d}-{position}" if identifier else "",
                    "camp": camp,
                    "arrival_date": arrival if position == 0 else "",
                    "receiving_relative": relative if position == 0 else "",
                    "receiving_phone": phone if position == 0 else "",
                    "receiving_address": "",
                }
            )
    return out


def family_name_for(surname: tuple[str, str, str], sex: str) -> tuple[str, str, str]:
    """The same family name with the other sex's ending."""
    old, new = ENDING["male" if sex == "female" else "female"], ENDING[sex]
    return tuple(name[: len(name) - len(old[i])] + new[i] for i, name in enumerate(surname))


def csv_bytes(rows: list[dict]) -> bytes:
    from lifecycle.cohort_import import COLUMNS

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def copy_seconds(content: bytes) -> float:
    """Load the file's rows with COPY into a bare table of text columns; the seconds it took."""
    from lifecycle.cohort_import import COLUMNS

    columns = ", ".join(f"{name} text" for name in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE bench_cohort_copy ({columns})")
        started = time.perf_counter()
        with cursor.connection.cursor().copy(
            "COPY bench_cohort_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            copy.write(content)
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_cohort_copy")
        loaded = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_cohort_copy")
    return seconds, loaded


def run(rows: int, persons: int, *, seed: int = 14, near: float = 0.03) -> dict:
    """Build, import and measure on the current database; returns the figures."""
    from casework.models import RepatriationOperation
    from lifecycle import cohort_import as importer
    from lifecycle.intake import people_on_file
    from programmes.models import ProgrammeMembership

    rng = random.Random(seed)
    programme, worker = bench_programme(code="bench-import")
    worker.is_staff = True
    worker.save(update_fields=["is_staff"])
    ProgrammeMembership.objects.create(programme=programme, user=worker, role="caseworker")
    today = programme.local_today()
    operation = RepatriationOperation.objects.create(
        code="bench-op", name="Bench operation (fictional)", operation_date=today, origin_country="SY"
    )
    with step(f"record {persons:,} people with their cases"):
        people = build_people(persons, programme, worker, rng)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, step("analyze"):
            cursor.execute("ANALYZE")
    content = csv_bytes(cohort_rows(rows, people, today, rng, near))
    del people

    tracemalloc.start()
    started = time.perf_counter()
    cpu = [time.process_time()]
    with step(f"validate {rows:,} rows") as validation:
        households, count, errors = importer.validate_rows(
            content, file_name="cohort.csv", programme=programme, by=worker
        )
    cpu.append(time.process_time())
    if errors:
        sys.exit("The generated file is invalid:\n  " + "\n  ".join(str(e) for e in errors[:10]))
    with step(f"duplicate check of {len(households):,} households") as check:
        on_file = people_on_file(worker)
        errors = importer.check_households(
            households, programme=programme, operation=operation, by=worker, on_file=on_file
        )
    cpu.append(time.process_time())
    if errors:
        sys.exit("The generated file is invalid:\n  " + "\n  ".join(str(e) for e in errors[:10]))
    with step("register the households without candidates, queue the others") as registration:
        result = importer.register_households(
            households,
            content=content,
            file_name="cohort.csv",
            rows=count,
            programme=programme,
            operation=operation,
            by=worker,
            on_file=on_file,
        )
    total = time.perf_counter() - started
    cpu.append(time.process_time())
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if result.errors:
        sys.exit("The import failed:\n  " + "\n  ".join(str(e) for e in result.errors[:10]))

    figures = {
        "rows": count,
        "households": len(households),
        "created_persons": result.created_persons,
        "created_cases": result.created_cases,
        "awaiting_review": len(result.awaiting_review),
        "validation": validation.seconds,
        "duplicate_check": check.seconds,
        "registration": registration.seconds,
        "total": total,
        # This process's CPU seconds (Python's side; the database server's work is not in it),
        # for a figure less dependent on what else the machine runs.
        "cpu_validation": cpu[1] - cpu[0],
        "cpu_duplicate_check": cpu[2] - cpu[1],
        "cpu_registration": cpu[3] - cpu[2],
        "tracemalloc_peak_mb": peak / 2**20,
        # Kilobytes on Linux.
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "copy": None,
    }
    if connection.vendor == "postgresql":
        with step("the same rows with COPY into a bare table"):
            figures["copy"], loaded = copy_seconds(content)
        assert loaded == count, (loaded, count)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="Rows in the cohort file (default 10000).")
    parser.add_argument("--persons", type=int, default=100_000, help="People on file (default 100000).")
    args = parser.parse_args()
    fresh_schema()
    figures = run(args.rows, args.persons)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(f"\nPostgreSQL {version}; {args.persons:,} people on file; a file of {figures['rows']:,} rows")
    print(
        f"households: {figures['households']:,}; registered {figures['created_persons']:,} people and "
        f"{figures['created_cases']:,} cases; {figures['awaiting_review']:,} rows awaiting review"
    )
    print(
        f"CPU validation={figures['cpu_validation']:.2f}s duplicate_check={figures['cpu_duplicate_check']:.2f}s "
        f"registration={figures['cpu_registration']:.2f}s"
    )
    print(
        f"RESULT validation={figures['validation']:.2f}s duplicate_check={figures['duplicate_check']:.2f}s "
        f"registration={figures['registration']:.2f}s total={figures['total']:.2f}s "
        f"copy={figures['copy']:.3f}s ratio={figures['total'] / figures['copy']:.0f} "
        f"tracemalloc_peak={figures['tracemalloc_peak_mb']:.0f}MB maxrss={figures['maxrss_mb']:.0f}MB"
    )


if __name__ == "__main__":
    main()
