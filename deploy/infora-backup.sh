#!/bin/sh
# One backup of Infora's database, named by its time (UTC), into INFORA_BACKUP_DIR (default
# /var/backups/infora); backups older than INFORA_BACKUP_KEEP_DAYS (default 14) are deleted after
# a successful backup. Run by infora-backup.service with the deployment's environment file.
set -eu
dir="${INFORA_BACKUP_DIR:-/var/backups/infora}"
keep="${INFORA_BACKUP_KEEP_DAYS:-14}"
infora="${INFORA_BIN:-/opt/infora/.venv/bin/infora}"
case "${DATABASE_URL:-${INFORA_DATABASE_URL:-sqlite}}" in
  postgres*) suffix=dump ;;
  *) suffix=sqlite3 ;;
esac
umask 077
mkdir -p "$dir"
"$infora" backup "$dir/infora-$(date -u +%Y%m%dT%H%M%SZ).$suffix"
find "$dir" -maxdepth 1 -type f -name 'infora-*' -mtime +"$keep" -print -delete
