#!/bin/bash
# First start: create the cluster, the user and the database from POSTGRES_* (as the official
# image does); later starts: just run the server on the existing volume.
set -euo pipefail
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  user=${POSTGRES_USER:-postgres}
  password=${POSTGRES_PASSWORD:-}
  if [[ -n "${POSTGRES_PASSWORD_FILE:-}" ]]; then password=$(<"$POSTGRES_PASSWORD_FILE"); fi
  [[ -n "$password" ]] || { echo "POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required" >&2; exit 1; }
  pwfile=$(mktemp)
  printf '%s' "$password" >"$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  db=${POSTGRES_DB:-$user}
  if [[ "$db" != postgres ]]; then createdb --username="$user" "$db"; fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "database cluster initialised"
fi
if [[ "$1" == postgres ]]; then
  shift
  exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
