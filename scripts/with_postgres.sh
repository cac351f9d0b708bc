#!/usr/bin/env bash
# Runs a command against a throw-away PostgreSQL server on 127.0.0.1 (a free port), with
# INFORA_TEST_DATABASE_URL pointing at it; the server and its data are removed afterwards.
# initdb refuses to run as root, so the cluster belongs to the postgres user.
set -euo pipefail
bindir=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
datadir=$(mktemp -d /tmp/infora-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = "0" ]; then su postgres -s /bin/sh -c "cd / && $1"; else sh -c "$1"; fi; }
if [ "$(id -u)" = "0" ]; then chown postgres:postgres "$datadir"; fi
cleanup() {
  as_pg "$bindir/pg_ctl -D $datadir -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$datadir"
}
trap cleanup EXIT
as_pg "$bindir/initdb -D $datadir -U postgres -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
as_pg "$bindir/pg_ctl -D $datadir -l $datadir/log -w -o '-h 127.0.0.1 -p $port -k $datadir -c fsync=off -c max_connections=200' start" >/dev/null
as_pg "$bindir/createdb -h 127.0.0.1 -p $port -U postgres infora_test"
export INFORA_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/infora_test"
echo "PostgreSQL on 127.0.0.1:$port"
"$@"
