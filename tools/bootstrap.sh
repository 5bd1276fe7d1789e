#!/usr/bin/env bash
# Install the system tools soulplayer needs: cc65 (ca65/ld65), VICE (x64sc, x64)
# and open-roms (free C64 ROMs for headless tests); with the argument `web` also
# Node.js + npm (make web) and Chromium (the web page's tests run it headless).
# Quick no-op when present.
set -euo pipefail

ROMS=/usr/share/open-roms/C64
WEB=$([ "${1:-}" = web ] && echo 1 || echo 0)
have_all() {
    command -v ca65 >/dev/null && command -v ld65 >/dev/null &&
    command -v x64sc >/dev/null && command -v x64 >/dev/null &&
    [ -f "$ROMS/kernal" ] && [ -f "$ROMS/basic" ] && [ -f "$ROMS/chargen" ] &&
    { [ "$WEB" = 0 ] || { command -v node >/dev/null && command -v npm >/dev/null && command -v chromium >/dev/null; }; }
}
have_all && exit 0

if ! command -v apt-get >/dev/null; then
    cat >&2 <<MSG
soulplayer: this system has no apt-get; install these yourself, then run make again:
  cc65       (ca65, ld65)   https://cc65.github.io
  VICE 3.x   (x64sc, x64)   https://vice-emu.sourceforge.io
  open-roms  (C64 kernal/basic/chargen in $ROMS)
  Node.js with npm, and Chromium (as \`chromium\` on PATH) for make web and its tests
MSG
    exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "soulplayer: not root and no sudo; run: apt-get install cc65 vice open-roms nodejs npm chromium" >&2; exit 1; }
    SUDO=sudo
fi

# VICE lives in Debian's contrib (Ubuntu: multiverse): enable that component if missing.
. /etc/os-release
extra=contrib
[ "${ID:-}" = ubuntu ] && extra="universe multiverse"
enable_components() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        grep -q '^Components:.*\bmain\b' "$f" || continue
        for c in $extra; do
            grep -q "^Components:.*\b$c\b" "$f" || $SUDO sed -i "/^Components:/ s/\$/ $c/" "$f"
        done
    done
    if [ -f /etc/apt/sources.list ]; then
        for c in $extra; do
            $SUDO sed -i -E "/^deb(-src)? .* main( |\$)/ { / $c( |\$)/! s/\$/ $c/ }" /etc/apt/sources.list
        done
    fi
}
enable_components

pkgs="cc65 vice open-roms python3-venv"
if [ "$WEB" = 1 ]; then
    pkgs="$pkgs chromium"
    command -v node >/dev/null || pkgs="$pkgs nodejs"     # keep a Node.js installed another way
    command -v npm >/dev/null || pkgs="$pkgs npm"
fi
echo "soulplayer: installing $pkgs with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
have_all || { echo "soulplayer: install finished but ca65/x64sc/open-roms/node/npm/chromium are still missing" >&2; exit 1; }
