#!/usr/bin/env bash
# Builds the supervisor's image (default tag ollama-fleet:local) where no image registry can
# be reached, as on the test machines: the run stage of ./Dockerfile, unchanged, on a
# node:20-bookworm-slim stand-in made from this machine's own node and busybox, with the app
# built here instead of in the Dockerfile's build stage (which needs a registry and a
# compiler). For the tests' private dockerd only: it tags that stand-in as the real base.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${1:-ollama-fleet:local}
WORK=$ROOT/test-output/image
export DOCKER_BUILDKIT=0
# Two test files may build at once (both compose tests): one after the other, in one folder.
mkdir -p "$ROOT/test-output"
exec 9>"$ROOT/test-output/image.lock"
flock 9
rm -rf "$WORK" && mkdir -p "$WORK"

if ! docker image inspect node:20-bookworm-slim >/dev/null 2>&1; then
  base=$WORK/base
  mkdir -p "$base/bin" "$base/usr/bin" "$base/etc" "$base/tmp" "$base/home/node"
  cp -L "$(command -v node)" "$base/usr/bin/node"
  for lib in $(ldd "$(command -v node)" | grep -o '/[^ ]*'); do
    mkdir -p "$base$(dirname "$lib")" && cp -L "$lib" "$base$lib"
  done
  cp /bin/busybox "$base/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$base/bin/$applet" ] || ln -s busybox "$base/bin/$applet"
  done
  ln -s /bin/busybox "$base/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' >"$base/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$base/etc/group"
  chmod 1777 "$base/tmp"
  tar -C "$base" --owner=0 --group=0 --numeric-owner -c . | docker import - node:20-bookworm-slim >/dev/null
fi

# dist/ as `npm run build` left it (npm test builds first; rebuilding here would rewrite it
# under the other tests' feet).
[ -f "$ROOT/dist/main.js" ] || (cd "$ROOT" && npm run build --silent)
ctx=$WORK/context
mkdir -p "$ctx/prebuilt/app"
cp -al "$ROOT/node_modules" "$ctx/prebuilt/app/"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$ctx/prebuilt/app/"
(cd "$ctx/prebuilt/app" && sh "$ROOT/scripts/slim-node-modules.sh")
cp -r "$ROOT/dist" "$ctx/prebuilt/app/dist"
cp "$ROOT/package.json" "$ctx/" && cp -r "$ROOT/bin" "$ROOT/deploy" "$ctx/"
# The build stage is replaced by the app built above; the run stage is the real one.
last_from=$(grep -n '^FROM ' "$ROOT/Dockerfile" | tail -1 | cut -d: -f1)
{
  echo 'FROM scratch AS build'
  echo 'COPY prebuilt/app /app'
  tail -n "+$last_from" "$ROOT/Dockerfile"
} >"$ctx/Dockerfile"
docker build -q -t "$TAG" "$ctx" >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log" >&2; exit 1; }
echo "$TAG"
