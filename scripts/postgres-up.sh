#!/usr/bin/env bash
# Starts a private PostgreSQL for the tests (the shared job queue's), like dockerd-up.sh does
# for Docker. Idempotent: a server already running there is reused. Installs Debian's
# postgresql when it is missing and we are root; otherwise says what to install. Prints the
# URL to connect with on its last line (trust authentication, loopback only).
set -euo pipefail
ROOT=${FLEET_PG_ROOT:-/tmp/fleet-postgres}
PORT=${FLEET_PG_PORT:-55432}
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN=$(find_bin)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install Debian's postgresql (as root), then run this again" >&2
    exit 1
  fi
  apt-get update >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null 2>&1
  BIN=$(find_bin)
fi
# PostgreSQL refuses to run as root: as root, the server runs as the postgres user.
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
  mkdir -p "$ROOT"; chmod 755 "$ROOT"
  [ "$(id -u)" = 0 ] && chown postgres "$ROOT"
  if [ ! -f "$ROOT/data/PG_VERSION" ]; then
    "${AS[@]}" "$BIN/initdb" -D "$ROOT/data" -U fleet --auth=trust >"$ROOT/initdb.log" 2>&1 ||
      { echo "initdb failed; see $ROOT/initdb.log" >&2; exit 1; }
  fi
  "${AS[@]}" "$BIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/server.log" -w -t 60 start \
    -o "-p $PORT -k $ROOT -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" >/dev/null ||
    { echo "PostgreSQL did not start; see $ROOT/server.log" >&2; exit 1; }
fi
echo "postgres://fleet@127.0.0.1:$PORT/postgres"
