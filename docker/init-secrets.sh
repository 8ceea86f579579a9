#!/usr/bin/env bash
# Makes the secrets compose.yml mounts, once: a random PostgreSQL password, the database URL with
# it, and the key-encryption key that seals the signing keys (32 random bytes, base64).
# Existing files are kept: a new key-encryption key would make the stored signing keys unreadable.
# Usage: ./init-secrets.sh [DIR]   (default: ./secrets next to this script)
set -euo pipefail
dir=${1:-$(dirname "$0")/secrets}
umask 077
mkdir -p "$dir"
# The folder is private on the host; the files are readable so the containers' non-root users
# (which have other user ids than the host's) can read their bind mounts.
chmod 0700 "$dir"
make_secret() {
  local name=$1 value=$2
  if [[ -s "$dir/$name" ]]; then
    echo "$dir/$name: kept"
  else
    printf '%s' "$value" >"$dir/$name"
    chmod 0644 "$dir/$name"
    echo "$dir/$name: created"
  fi
}
make_secret postgres_password "$(openssl rand -hex 24)"
make_secret database_url "postgres://yagona:$(<"$dir/postgres_password")@postgres:5432/yagona"
make_secret kek "$(openssl rand -base64 32)"
