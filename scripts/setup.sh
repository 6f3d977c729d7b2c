#!/usr/bin/env bash
# Makes a fresh Debian 12 / Ubuntu machine ready to run this project:
#   1. checks Node >= 20 and npm;
#   2. installs the npm dependencies: `npm ci` (or `npm install` without a lockfile),
#      skipped when node_modules already matches package-lock.json;
#   3. makes a WebGPU adapter available: scripts/setup-webgpu.sh (Mesa's lavapipe from
#      bookworm-backports when no adapter exists; needs root, otherwise it says what to run);
#   4. installs Debian's Chromium (/usr/bin/chromium) when it is missing: the tests of the
#      web page and of report.html drive it headless (playwright-core); and Python 3
#      (/usr/bin/python3, the standard library only): the export tests read the written
#      mmdetection config.py with it. Needs root on Debian/Ubuntu, otherwise it says what to run.
# Idempotent and quiet when everything is in place.
#
# Usage: bash scripts/setup.sh      (npm run setup)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "setup: $*"; }
die() {
  echo "setup: $*" >&2
  exit 1
}

# ---------------------------------------------------------------- node

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  die "Node.js >= 20 with npm is needed and was not found (Debian 12's own nodejs is 18: too old). As root:
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  die "Node.js >= 20 is needed, found $(node --version). Install Node 20 or later (e.g. from https://deb.nodesource.com) and rerun."
fi

# ---------------------------------------------------------------- npm packages

# True when node_modules holds exactly what package-lock.json asks for (and the lock
# still agrees with package.json): then `npm ci`, which deletes node_modules first,
# would only waste time and disturb anyone running tests from this tree.
deps_in_sync() {
  [ -f package-lock.json ] && [ -f node_modules/.package-lock.json ] || return 1
  node --input-type=module -e '
    import { readFileSync } from "node:fs";
    const read = (f) => JSON.parse(readFileSync(f, "utf8"));
    const pkg = read("package.json"), lock = read("package-lock.json"), hidden = read("node_modules/.package-lock.json");
    const root = lock.packages?.[""] ?? {};
    for (const field of ["dependencies", "devDependencies", "optionalDependencies"]) {
      const want = pkg[field] ?? {}, have = root[field] ?? {};
      const keys = new Set([...Object.keys(want), ...Object.keys(have)]);
      for (const k of keys) if (want[k] !== have[k]) process.exit(1);
    }
    const entries = (o) => Object.entries(o.packages ?? {}).filter(([k]) => k !== "");
    const installed = new Map(entries(hidden).map(([k, v]) => [k, v.version]));
    for (const [k, v] of entries(lock)) {
      if (v.optional && !installed.has(k)) continue; // another platform'"'"'s binary
      if (installed.get(k) !== v.version) process.exit(1);
    }
  ' 2>/dev/null
}

if deps_in_sync; then
  :
elif [ -f package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  say "installing npm packages (npm install; no package-lock.json)"
  npm install --no-audit --no-fund --loglevel=error
fi

# ---------------------------------------------------------------- WebGPU adapter

bash scripts/setup-webgpu.sh

# ---------------------------------------------------------------- Debian packages

# apt_install_missing BINARY PACKAGE WHY: installs the Debian package when BINARY is missing.
apt_install_missing() {
  local binary=$1 package=$2 why=$3
  [ -x "$binary" ] && return 0
  ID='' ID_LIKE=''
  # shellcheck disable=SC1091
  [ -r /etc/os-release ] && . /etc/os-release
  case "$ID ${ID_LIKE:-}" in
    *debian* | *ubuntu*) ;;
    *) die "$binary is missing ($why) and this is not Debian/Ubuntu.
Install $package with your package manager and make it available as $binary, then rerun." ;;
  esac
  if [ "$(id -u)" -ne 0 ]; then
    die "$binary is missing ($why); installing it needs root. Run:
  sudo apt-get update && sudo apt-get install -y $package"
  fi
  say "installing $package ($why): apt-get update; apt-get install -y $package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$package" >/dev/null
  [ -x "$binary" ] || die "apt-get installed $package, but $binary is not there"
  say "installed $("$binary" --version 2>/dev/null | head -1)"
}

apt_install_missing /usr/bin/chromium chromium 'the web page and report tests drive it headless'
apt_install_missing /usr/bin/python3 python3 'the export tests read the written mmdetection config.py with it'
