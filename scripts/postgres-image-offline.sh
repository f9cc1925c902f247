#!/usr/bin/env bash
# Builds a stand-in for the official PostgreSQL image (tag postgres:16, as
# docker-compose.cluster.yml names it) where no registry can be reached, as on the test
# machines: this machine's own Debian postgresql binaries, their libraries and busybox, with
# an entrypoint that honours what the compose file relies on (POSTGRES_USER, _PASSWORD, _DB,
# data in /var/lib/postgresql/data, pg_isready for the health check). For the tests' private
# dockerd only. Installs Debian's postgresql first when it is missing and we are root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${1:-postgres:16}
mkdir -p "$ROOT/test-output"
exec 9>"$ROOT/test-output/postgres-image.lock"
flock 9
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "$TAG"; exit 0; fi
bash "$ROOT/scripts/postgres-up.sh" >/dev/null # installs postgresql when missing
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGROOT=$(dirname "$BIN")
SHARE=/usr/share/postgresql/$(basename "$PGROOT")
WORK=$ROOT/test-output/postgres-image
rm -rf "$WORK" && mkdir -p "$WORK/root"
r=$WORK/root
copy() { mkdir -p "$r$(dirname "$1")" && cp -aL "$1" "$r$1"; }
for tool in postgres initdb pg_ctl pg_isready; do
  copy "$BIN/$tool"
  for lib in $(ldd "$BIN/$tool" | grep -o '/[^ ]*'); do copy "$lib"; done
done
mkdir -p "$r$PGROOT" && cp -a "$PGROOT/lib" "$r$PGROOT/"
for so in "$PGROOT"/lib/*.so; do
  for lib in $(ldd "$so" 2>/dev/null | grep -o '/[^ ]*'); do [ -e "$r$lib" ] || copy "$lib"; done
done
mkdir -p "$r$(dirname "$SHARE")" && cp -a "$SHARE" "$r$SHARE"
[ -d /usr/share/zoneinfo ] && mkdir -p "$r/usr/share" && cp -a /usr/share/zoneinfo "$r/usr/share/"
mkdir -p "$r/bin" "$r/tmp" "$r/etc" "$r/var/run/postgresql" "$r/var/lib/postgresql/data"
cp /bin/busybox "$r/bin/busybox"
for applet in $(/bin/busybox --list); do [ -e "$r/bin/$applet" ] || ln -s busybox "$r/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' >"$r/etc/group"
chmod 1777 "$r/tmp"
cat >"$r/entrypoint.sh" <<SCRIPT
#!/bin/sh
# As the official image does: a first start makes the cluster, its user and its database.
set -e
PGDATA=/var/lib/postgresql/data
export PATH=$BIN:/bin
if [ ! -s "\$PGDATA/PG_VERSION" ]; then
  printf '%s' "\$POSTGRES_PASSWORD" >/tmp/pw
  initdb -D "\$PGDATA" -U "\${POSTGRES_USER:-postgres}" --pwfile=/tmp/pw --auth-local=trust \\
    --auth-host=scram-sha-256 --locale=C -E UTF8 >/dev/null
  rm -f /tmp/pw
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"\$PGDATA/pg_hba.conf"
  if [ -n "\$POSTGRES_DB" ] && [ "\$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"\$POSTGRES_DB\"" | postgres --single -D "\$PGDATA" postgres >/dev/null
  fi
fi
exec postgres -D "\$PGDATA" -c listen_addresses='*' -k /var/run/postgresql
SCRIPT
chmod 755 "$r/entrypoint.sh"
chown -R 999:999 "$r/var/lib/postgresql" "$r/var/run/postgresql"
# Imported rather than built: a tarball keeps the data folder's owner (COPY would make it root's).
tar -C "$r" --numeric-owner -c . | docker import \
  --change "ENV PATH=$BIN:/bin" --change 'USER postgres' --change 'EXPOSE 5432' \
  --change 'ENTRYPOINT ["/entrypoint.sh"]' - "$TAG" >/dev/null
echo "$TAG"
