"""Do the keys at hand open this database's identifiers? And re-encrypt them after a key change.

    python deploy/identifier_keys.py check
    python deploy/identifier_keys.py reencrypt
    python deploy/identifier_keys.py redigest

Run from the project root with the deployment's environment (DATABASE_URL,
FIELD_ENCRYPTION_KEY, IDENTIFIER_LOOKUP_KEY), e.g. `docker compose run --rm web python
deploy/identifier_keys.py check`.

``check`` reads every stored identifier: each must decrypt with FIELD_ENCRYPTION_KEY and its
search digest must be the one IDENTIFIER_LOOKUP_KEY gives. Run it after every restore: the
encrypted field itself hands back the unreadable ciphertext when the key is wrong rather than
failing, and a record saved in that state would be lost for good. It exits 1 with the reason
when the keys do not fit, and never prints a value.

``reencrypt`` completes a rotation of FIELD_ENCRYPTION_KEY. Put the new key first and keep the
old ones after it (FIELD_ENCRYPTION_KEY=new,old: the first encrypts, all decrypt), restart the
processes, then run it: every identifier still encrypted with an older key is rewritten with
the new one, in one transaction, after all of them were found readable. Then the old keys can
be dropped from FIELD_ENCRYPTION_KEY (and from the key store, once no kept backup needs them).
Only the ciphertext changes; the value and its digest stay as they are.

``redigest`` completes a change of IDENTIFIER_LOOKUP_KEY: it recomputes every identifier's
search digest with the key now set, in one transaction, after all of them were found
readable. Stop web and worker first, set the new key, run it, then start them again: a
process still holding the old key would write digests the new one does not find.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class KeysDoNotFit(Exception):
    pass


def _crypters():
    from cryptography.fernet import Fernet, MultiFernet
    from django.conf import settings

    keys = [Fernet(key) for key in settings.FIELD_ENCRYPTION_KEY]
    return keys[0], MultiFernet(keys)


def _rows(connection, table: str, *, lock: bool = False):
    quoted = connection.ops.quote_name(table)
    suffix = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, value, value_digest FROM {quoted} ORDER BY id{suffix}")  # noqa: S608 (table name from the model)
        yield from cursor


def survey(*, lock: bool = False) -> dict:
    """Counts of identifiers: total, unreadable, digest mismatches, and ids under an older key."""
    from cryptography.fernet import InvalidToken
    from django.db import connection

    from casework.models import PersonIdentifier, identifier_digest

    primary, every_key = _crypters()
    found = {"total": 0, "unreadable": 0, "mismatched": 0, "older_key": []}
    for pk, token, digest in _rows(connection, PersonIdentifier._meta.db_table, lock=lock):
        found["total"] += 1
        try:
            value = every_key.decrypt(token.encode()).decode()
        except InvalidToken:
            found["unreadable"] += 1
            continue
        if identifier_digest(value) != digest:
            found["mismatched"] += 1
        try:
            primary.decrypt(token.encode())
        except InvalidToken:
            found["older_key"].append(pk)
    return found


def _refuse_unless_fit(found: dict) -> None:
    total = found["total"]
    if found["unreadable"]:
        raise KeysDoNotFit(
            f"FIELD_ENCRYPTION_KEY does not decrypt {found['unreadable']} of {total} identifiers: "
            "it is not the key (or list of keys) this database was written with."
        )
    if found["mismatched"]:
        raise KeysDoNotFit(
            f"IDENTIFIER_LOOKUP_KEY does not give the stored search digest of {found['mismatched']} of {total} "
            "identifiers: it is not the key this database was written with, and searches by identifier would miss."
        )


def check() -> str:
    found = survey()
    _refuse_unless_fit(found)
    message = (
        f"{found['total']} identifiers: every one decrypts with FIELD_ENCRYPTION_KEY "
        "and matches its digest under IDENTIFIER_LOOKUP_KEY."
    )
    if found["older_key"]:
        message += f" {len(found['older_key'])} are still encrypted with an older key: run reencrypt."
    return message


def reencrypt() -> str:
    from django.db import connection, transaction

    from casework.models import PersonIdentifier

    table = connection.ops.quote_name(PersonIdentifier._meta.db_table)
    _, every_key = _crypters()
    with transaction.atomic():
        found = survey(lock=True)
        _refuse_unless_fit(found)
        with connection.cursor() as cursor:
            for pk in found["older_key"]:
                cursor.execute(f"SELECT value FROM {table} WHERE id = %s", [pk])  # noqa: S608
                (token,) = cursor.fetchone()
                rotated = every_key.rotate(token.encode()).decode()
                cursor.execute(f"UPDATE {table} SET value = %s WHERE id = %s", [rotated, pk])  # noqa: S608
    return (
        f"{len(found['older_key'])} of {found['total']} identifiers re-encrypted with the first FIELD_ENCRYPTION_KEY."
    )


def redigest() -> str:
    from cryptography.fernet import InvalidToken
    from django.db import connection, transaction

    from casework.models import PersonIdentifier, identifier_digest

    table = connection.ops.quote_name(PersonIdentifier._meta.db_table)
    _, every_key = _crypters()
    with transaction.atomic():
        rows = list(_rows(connection, PersonIdentifier._meta.db_table, lock=True))
        digests = {}
        for pk, token, _ in rows:
            try:
                digests[pk] = identifier_digest(every_key.decrypt(token.encode()).decode())
            except InvalidToken:
                digests[pk] = None
        unreadable = sum(digest is None for digest in digests.values())
        _refuse_unless_fit({"total": len(rows), "unreadable": unreadable, "mismatched": 0})
        changed = [(digests[pk], pk) for pk, _, digest in rows if digests[pk] != digest]
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET value_digest = %s WHERE id = %s", changed)  # noqa: S608
    return f"{len(changed)} of {len(rows)} identifiers given their digest under the current IDENTIFIER_LOOKUP_KEY."


ACTIONS = {"check": check, "reencrypt": reencrypt, "redigest": redigest}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=sorted(ACTIONS))
    action = parser.parse_args(argv).action
    import django

    django.setup()
    from django.db import DatabaseError

    try:
        print(ACTIONS[action]())
    except KeysDoNotFit as refusal:
        print(f"{action}: {refusal}", file=sys.stderr)
        return 1
    except DatabaseError as error:
        print(
            f"{action}: cannot read the identifiers ({type(error).__name__}); is the database restored and migrated?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
