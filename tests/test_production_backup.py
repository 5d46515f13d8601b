"""Backups that restore: the demo caseload is dumped with deploy/backup.sh, restored into a
new database, and its encrypted identifiers read back with the same keys; the wrong keys are
refused with a clear error, and a rotated encryption key takes over after reencrypt.

PostgreSQL only (pg_dump, pg_restore): each test makes its own databases on the server the
suite runs against and drops them afterwards."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SERVER = settings.DATABASES["default"]

KEY = Fernet.generate_key().decode()
LOOKUP_KEY = "backup-test-lookup-key-" + "x" * 20
# Prints each identifier (the demo's fictional numbers) as the application reads it.
READ_IDENTIFIERS = """
from casework.models import PersonIdentifier
for identifier in PersonIdentifier.objects.order_by("pk"):
    print(identifier.pk, identifier.kind, identifier.value)
"""


def database_url(name: str) -> str:
    user = SERVER.get("USER") or "postgres"
    password = f":{SERVER['PASSWORD']}" if SERVER.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{SERVER.get('HOST') or '127.0.0.1'}:{SERVER.get('PORT') or 5432}/{name}"


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(
        database_url("postgres").replace("postgres://", "postgresql://"), autocommit=True
    ) as connection:
        connection.execute(statement)


@pytest.fixture(scope="module")
def databases():
    """A factory of new, empty databases, dropped at the end."""
    if SERVER["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("backups are PostgreSQL dumps (set DATABASE_URL)")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not installed")
    made: list[str] = []

    def make() -> str:
        name = f"rehab_backup_test_{uuid.uuid4().hex[:10]}"
        admin_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return database_url(name)

    yield make
    for name in made:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(tmp_path: Path, url: str, **keys) -> dict:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_")
        and key not in ("DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEY", "IDENTIFIER_LOOKUP_KEY")
    }
    base.update(
        DATABASE_URL=url,
        DJANGO_VAR_DIR=str(tmp_path / "var"),
        FIELD_ENCRYPTION_KEY=KEY,
        IDENTIFIER_LOOKUP_KEY=LOOKUP_KEY,
        BACKUP_DIR=str(tmp_path / "backups"),
        PYTHONUNBUFFERED="1",
    )
    base.update(keys)
    return base


def run(command: list[str], env: dict, *, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def manage(env: dict, *arguments: str) -> str:
    return run([sys.executable, "manage.py", *arguments], env).stdout


def read_identifiers(env: dict) -> list[str]:
    """ "pk kind value" per identifier, as the application reads them."""
    output = manage(env, "shell", "--no-imports", "-c", READ_IDENTIFIERS)
    return [line for line in output.splitlines() if re.fullmatch(r"\d+ [a-z_]+ \S+", line)]


def identifier_keys(env: dict, action: str, *, ok: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "deploy/identifier_keys.py", action], env, ok=ok)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, databases):
    """The demo caseload of 30 returnees, what the application reads of its identifiers, and
    its dump (made once, as the nightly backup does)."""
    work = tmp_path_factory.mktemp("backup")
    source = environment(work, databases())
    manage(source, "migrate", "--noinput", "-v", "0")
    manage(source, "seed_demo", "--size", "30", "-v", "0")
    identifiers = read_identifiers(source)
    assert len(identifiers) >= 10
    assert "backup: wrote" in run(["deploy/backup.sh", "dump"], source).stdout
    (dump,) = (work / "backups").glob("rehab-*.dump")
    return source, identifiers, dump


@pytest.fixture
def restored(tmp_path, seeded, databases):
    """The dump restored into a new database: its environment, with the same keys."""
    _, _, dump = seeded
    target = environment(tmp_path, databases())
    result = run(["deploy/backup.sh", "restore", str(dump)], target)
    assert "identifier_keys.py check" in result.stdout
    return target


def test_the_dump_is_readable_by_its_owner_only(seeded):
    _, _, dump = seeded
    assert dump.stat().st_mode & 0o777 == 0o600
    assert not list(dump.parent.glob("*.partial"))


def test_a_dump_restores_and_its_identifiers_read_back_with_the_same_keys(seeded, restored):
    _, identifiers, _ = seeded
    # The application reads every identifier back, decrypted, exactly as before.
    assert read_identifiers(restored) == identifiers
    assert not any("gAAAA" in line for line in identifiers)  # no ciphertext came back in place of a value
    checked = identifier_keys(restored, "check")
    assert f"{len(identifiers)} identifiers: every one decrypts" in checked.stdout


def test_restoring_over_a_database_in_use_is_refused(seeded):
    source, _, dump = seeded
    refused = run(["deploy/backup.sh", "restore", str(dump)], source, ok=False)
    assert refused.returncode == 1
    assert "restore into a new, empty database" in refused.stderr


def test_the_wrong_keys_are_refused_with_a_clear_error(seeded, restored):
    _, identifiers, _ = seeded
    count = len(identifiers)
    wrong_key = identifier_keys({**restored, "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}, "check", ok=False)
    assert wrong_key.returncode == 1
    assert f"FIELD_ENCRYPTION_KEY does not decrypt {count} of {count} identifiers" in wrong_key.stderr
    wrong_lookup = identifier_keys(
        {**restored, "IDENTIFIER_LOOKUP_KEY": "another-lookup-key-" + "y" * 20}, "check", ok=False
    )
    assert wrong_lookup.returncode == 1
    assert f"IDENTIFIER_LOOKUP_KEY does not give the stored search digest of {count} of {count}" in wrong_lookup.stderr
    # Nothing of a value is printed, whatever the outcome.
    said = wrong_key.stdout + wrong_key.stderr + wrong_lookup.stdout + wrong_lookup.stderr
    for line in identifiers:
        assert line.split(" ", 2)[2] not in said


def test_a_new_encryption_key_takes_over_after_reencrypt(seeded, restored):
    _, identifiers, _ = seeded
    count = len(identifiers)
    new_key = Fernet.generate_key().decode()
    rotating = {**restored, "FIELD_ENCRYPTION_KEY": f"{new_key},{KEY}"}
    # With the new key first, everything still reads; the check says what is left to do.
    assert f"{count} are still encrypted with an older key" in identifier_keys(rotating, "check").stdout
    assert f"{count} of {count} identifiers re-encrypted" in identifier_keys(rotating, "reencrypt").stdout
    assert f"0 of {count} identifiers re-encrypted" in identifier_keys(rotating, "reencrypt").stdout
    # The new key alone opens everything; the old one alone opens nothing.
    only_new = {**restored, "FIELD_ENCRYPTION_KEY": new_key}
    assert "older key" not in identifier_keys(only_new, "check").stdout
    assert read_identifiers(only_new) == identifiers
    assert identifier_keys(restored, "check", ok=False).returncode == 1


def test_a_new_lookup_key_takes_over_after_redigest(seeded, restored):
    _, identifiers, _ = seeded
    count = len(identifiers)
    new_lookup = {**restored, "IDENTIFIER_LOOKUP_KEY": "the-next-lookup-key-" + "z" * 20}
    assert identifier_keys(new_lookup, "check", ok=False).returncode == 1
    assert f"{count} of {count} identifiers given their digest" in identifier_keys(new_lookup, "redigest").stdout
    assert "every one decrypts" in identifier_keys(new_lookup, "check").stdout
    assert identifier_keys(restored, "check", ok=False).returncode == 1
    # Search by identifier finds the person under the new key.
    _, kind, value = identifiers[0].split(" ", 2)
    found = manage(
        new_lookup,
        "shell",
        "--no-imports",
        "-c",
        "from casework.models import PersonIdentifier, identifier_digest; "
        f"print(PersonIdentifier.objects.filter(kind={kind!r}, value_digest=identifier_digest({value!r})).count())",
    )
    assert found.strip().splitlines()[-1] == "1"


def test_a_database_without_identifiers_table_is_a_clear_error(tmp_path, databases):
    refused = identifier_keys(environment(tmp_path, databases()), "check", ok=False)
    assert refused.returncode == 1
    assert "is the database restored and migrated?" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_reencrypt_writes_nothing_when_a_key_is_missing(seeded, restored):
    _, identifiers, _ = seeded
    stranger = {**restored, "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    refused = identifier_keys(stranger, "reencrypt", ok=False)
    assert refused.returncode == 1 and "does not decrypt" in refused.stderr
    assert read_identifiers(restored) == identifiers


def test_compose_backs_the_database_up_with_the_script():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    backup = compose["services"]["backup"]
    assert backup["image"] == compose["services"]["db"]["image"]  # pg_dump of the server's version
    assert "./deploy/backup.sh:/usr/local/bin/rehab-backup:ro" in backup["volumes"]
    assert "rehab-backup dump" in " ".join(backup["command"])
    assert backup["environment"]["DATABASE_URL"] == compose["x-app"]["environment"]["DATABASE_URL"]
    assert "backups" in compose["volumes"]
