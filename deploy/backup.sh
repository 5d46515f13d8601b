#!/usr/bin/env bash
# Database backups that restore.
#
#   deploy/backup.sh dump              write $BACKUP_DIR/rehab-<UTC time>.dump, drop dumps older
#                                      than $BACKUP_KEEP_DAYS days (default 14)
#   deploy/backup.sh restore FILE      restore FILE into the empty database $DATABASE_URL
#
# Dumps are pg_dump's custom format (compressed, restored with pg_restore). A dump holds
# identifiers encrypted with FIELD_ENCRYPTION_KEY and findable only with IDENTIFIER_LOOKUP_KEY:
# keep both keys (and DJANGO_SECRET_KEY) with the dumps, but never in the same place. After
# a restore, `python deploy/identifier_keys.py check` proves that the keys at hand open this database.
#
# The dump contains every person's personal data: BACKUP_DIR belongs on encrypted storage
# readable by the operators only; the files are created readable by their owner alone.
set -euo pipefail

usage() {
  sed -n '4,6p' "$0" >&2
  exit 2
}

: "${DATABASE_URL:?set DATABASE_URL to the database (postgres://user:password@host:port/name)}"

dump() {
  local directory="${BACKUP_DIR:?set BACKUP_DIR to the folder the dumps go to}"
  local keep_days="${BACKUP_KEEP_DAYS:-14}"
  local stamp file
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  file="$directory/rehab-$stamp.dump"
  umask 077
  mkdir -p "$directory"
  # Written under a temporary name first: a dump cut short never looks like a good one.
  pg_dump --format=custom --no-owner --no-privileges --file="$file.partial" "$DATABASE_URL"
  # Read back its table of contents: an unreadable file fails here, not on the day it is needed.
  pg_restore --list "$file.partial" >/dev/null
  mv "$file.partial" "$file"
  echo "backup: wrote $file ($(du -h "$file" | cut -f1))"
  find "$directory" -maxdepth 1 -name 'rehab-*.dump' -mtime "+$keep_days" -print -delete \
    | sed 's/^/backup: removed /'
}

restore() {
  local file="${1:?give the dump to restore}"
  [ -r "$file" ] || { echo "restore: cannot read $file" >&2; exit 1; }
  local tables
  tables="$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
  if [ "$tables" != "0" ]; then
    echo "restore: the target database already has $tables tables; restore into a new, empty database" >&2
    exit 1
  fi
  # All or nothing: a failed restore leaves the database empty.
  pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$DATABASE_URL" "$file"
  echo "restore: $file restored; now run: python deploy/identifier_keys.py check"
}

case "${1:-}" in
  dump) dump ;;
  restore) shift; restore "$@" ;;
  *) usage ;;
esac
