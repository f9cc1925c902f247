#!/usr/bin/env bash
# Starts a private Docker engine for the tests (see README "Tests and Docker"), and builds the
# tiny busybox image they run. Idempotent: does nothing that is already done.
# Installs Debian's docker.io, docker-compose and busybox-static when they are missing and we
# are root; otherwise says what to install. Prints the DOCKER_HOST to use on its last line.
set -euo pipefail
ROOT=${FLEET_DOCKER_ROOT:-/tmp/fleet-docker}
SOCK=unix://$ROOT/docker.sock
export DOCKER_HOST=$SOCK
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 ||
  [ ! -x /bin/busybox ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install Debian's docker.io, docker-compose and busybox-static (as root), then run this again" >&2
    exit 1
  fi
  apt-get update >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io docker-compose busybox-static >/dev/null 2>&1
fi
if ! docker version >/dev/null 2>&1; then
  mkdir -p "$ROOT"
  (nohup dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root="$ROOT/data" --exec-root="$ROOT/exec" -H "$SOCK" --pidfile="$ROOT/docker.pid" \
    >"$ROOT/dockerd.log" 2>&1 &)
  for _ in $(seq 1 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
  docker version >/dev/null 2>&1 || { echo "dockerd did not start; see $ROOT/dockerd.log" >&2; exit 1; }
fi
if ! docker image inspect fleet-test/busybox:1 >/dev/null 2>&1; then
  r=$(mktemp -d); mkdir -p "$r/bin"; cp /bin/busybox "$r/bin/"
  for c in sh cat sleep echo printf date true; do ln -s busybox "$r/bin/$c"; done
  tar -C "$r" -c . | docker import - fleet-test/busybox:1 >/dev/null; rm -rf "$r"
fi
echo "$SOCK"
