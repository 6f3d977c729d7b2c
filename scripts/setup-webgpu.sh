#!/usr/bin/env bash
# Makes a WebGPU adapter available to Dawn (the `webgpu` npm package) on a machine
# without a GPU: Mesa's lavapipe, a Vulkan driver that runs on the CPU.
#
# - If an adapter is already usable (probed with Dawn when node_modules/webgpu is
#   installed), or Mesa >= 24's Vulkan drivers and the Vulkan loader are installed, it
#   says so in one line and changes nothing.
# - Otherwise, as root on Debian 12 (bookworm): adds bookworm-backports to
#   /etc/apt/sources.list.d/ (Mesa 25; bookworm's own Mesa 22 is too old for Dawn), then
#   apt-get update and apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1.
#   As root on a newer Debian or on Ubuntu: installs the same two packages from the
#   release's own archive.
# - Not root, or not Debian/Ubuntu: stops with one message saying what to run.
#
# Usage: sudo bash scripts/setup-webgpu.sh     (idempotent; safe to run again)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MIN_MESA_MAJOR=24
BACKPORTS_LINE='deb http://deb.debian.org/debian bookworm-backports main'
BACKPORTS_FILE=/etc/apt/sources.list.d/bookworm-backports.list

say() { echo "setup-webgpu: $*"; }
die() {
  echo "setup-webgpu: $*" >&2
  exit 1
}

# Prints the adapter and succeeds when Dawn finds one; fails quietly otherwise (also
# when node or node_modules/webgpu are not there yet).
probe_adapter() {
  command -v node >/dev/null 2>&1 && [ -d node_modules/webgpu ] || return 1
  timeout 60 node --input-type=module -e '
    import { create, globals } from "webgpu";
    Object.assign(globalThis, globals);
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) process.exit(1);
    const i = adapter.info;
    console.log([i.vendor, i.architecture, i.description].filter(Boolean).join(" / "));
    process.exit(0);
  ' 2>/dev/null
}

# "<version>" of an installed Debian package, empty when not installed.
installed_version() {
  dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "installed" { print $2 }'
}

mesa_ok() {
  command -v dpkg-query >/dev/null 2>&1 || return 1
  local mesa major
  mesa=$(installed_version mesa-vulkan-drivers)
  [ -n "$mesa" ] && [ -n "$(installed_version libvulkan1)" ] || return 1
  major=$(echo "$mesa" | sed -E 's/^[0-9]+://; s/^([0-9]+).*/\1/')
  [ "$major" -ge "$MIN_MESA_MAJOR" ] 2>/dev/null
}

if adapter=$(probe_adapter); then
  say "WebGPU adapter available: $adapter"
  exit 0
fi
if mesa_ok && [ ! -d node_modules/webgpu ]; then
  say "lavapipe installed (mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers)); the adapter is probed once node_modules is installed"
  exit 0
fi
if mesa_ok; then
  die "mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers) and libvulkan1 are installed, but Dawn finds no adapter.
Check that /usr/share/vulkan/icd.d/lvp_icd.*.json exists and VK_ICD_FILENAMES / VK_DRIVER_FILES are unset, then run: npm run doctor"
fi

# ---------------------------------------------------------------- install

ID='' VERSION_CODENAME='' ID_LIKE=''
# shellcheck disable=SC1091
[ -r /etc/os-release ] && . /etc/os-release
distro="$ID${VERSION_CODENAME:+ $VERSION_CODENAME}"
case "$ID ${ID_LIKE:-}" in
  *debian* | *ubuntu*) ;;
  *)
    die "no WebGPU adapter, and this is not Debian/Ubuntu ($distro), so nothing was installed.
Install Mesa >= $MIN_MESA_MAJOR's Vulkan drivers (lavapipe) and the Vulkan loader with your package manager,
e.g. Fedora: sudo dnf install mesa-vulkan-drivers vulkan-loader; Arch: sudo pacman -S vulkan-swrast vulkan-icd-loader;
then check with: npm run doctor"
    ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  if [ "$ID" = debian ] && [ "$VERSION_CODENAME" = bookworm ]; then
    die "no WebGPU adapter: Mesa >= $MIN_MESA_MAJOR's lavapipe is needed, and installing it needs root. Run:
  sudo bash scripts/setup-webgpu.sh
(it adds '$BACKPORTS_LINE' to $BACKPORTS_FILE, then runs apt-get update and apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1)"
  fi
  die "no WebGPU adapter: Mesa >= $MIN_MESA_MAJOR's lavapipe is needed, and installing it needs root. Run:
  sudo bash scripts/setup-webgpu.sh
(it runs apt-get update and apt-get install -y mesa-vulkan-drivers libvulkan1)"
fi

export DEBIAN_FRONTEND=noninteractive
target=()
if [ "$ID" = debian ] && [ "$VERSION_CODENAME" = bookworm ]; then
  if ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding '$BACKPORTS_LINE' to $BACKPORTS_FILE (Mesa 25 for lavapipe; bookworm's Mesa 22 is too old for Dawn)"
    echo "$BACKPORTS_LINE" >"$BACKPORTS_FILE"
  fi
  target=(-t bookworm-backports)
fi
say "installing Mesa's lavapipe: apt-get update; apt-get install -y ${target[*]:+${target[*]} }mesa-vulkan-drivers libvulkan1"
apt-get update -qq
apt-get install -y -qq "${target[@]}" mesa-vulkan-drivers libvulkan1 >/dev/null

mesa=$(installed_version mesa-vulkan-drivers)
if ! mesa_ok; then
  die "installed mesa-vulkan-drivers ${mesa:-?}, but Dawn needs Mesa >= $MIN_MESA_MAJOR ($distro has no newer one).
Use Debian 12 with bookworm-backports, Debian 13, or Ubuntu 24.04 or later."
fi
if [ -d node_modules/webgpu ]; then
  adapter=$(probe_adapter) || die "installed mesa-vulkan-drivers $mesa, but Dawn still finds no adapter; run: npm run doctor"
  say "WebGPU adapter available: $adapter"
else
  say "installed mesa-vulkan-drivers $mesa and libvulkan1"
fi
