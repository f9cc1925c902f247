#!/bin/sh
# Leaves node_modules (in the current folder) with production dependencies only, and drops
# what better-sqlite3 needed to compile (sources, object files): the image's run stage and
# the offline test image both get their node_modules from here.
set -eu
npm prune --omit=dev --no-audit --no-fund --offline --loglevel=error >/dev/null
cd node_modules/better-sqlite3
rm -rf deps src build/deps build/Release/obj build/Release/obj.target build/Release/.deps \
  build/Release/test_extension.node build/Release/sqlite3.a
