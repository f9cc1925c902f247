#!/usr/bin/env bash
# Finds Chromium for the dashboard test (driven by playwright-core), installing Debian's
# chromium package when it is missing and we are root; otherwise says what to install.
# Prints the browser's path on its last line.
set -euo pipefail
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then command -v "$candidate"; exit 0; fi
done
if [ "$(id -u)" != 0 ]; then
  echo "chromium is missing: install Debian's chromium package (as root), then run this again" >&2
  exit 1
fi
apt-get update >/dev/null 2>&1
DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null 2>&1
command -v chromium
