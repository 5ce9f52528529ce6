#!/usr/bin/env bash
# Installs the system packages semedit's native CPU engine builds against (oneDNN), where it can: Debian/Ubuntu
# with apt-get, as root or through sudo; macOS with Homebrew. Never fails: without them, `pnpm install` still
# succeeds and semedit runs on tfjs-wasm (initBackend says why in one line).
#
#   bash scripts/setup-system.sh
set -u
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="$(command -v sudo || true)"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    if ! dpkg -s libdnnl-dev >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libdnnl-dev g++ make \
        || echo "setup-system: apt-get could not install libdnnl-dev; the native engine will not be built"
    fi
  else
    echo "setup-system: not root and no sudo: install libdnnl-dev yourself for the native engine"
  fi
elif command -v brew >/dev/null 2>&1; then
  brew list onednn >/dev/null 2>&1 || brew install onednn || echo "setup-system: brew could not install onednn"
else
  echo "setup-system: no apt-get or brew: install oneDNN (headers and library) for the native engine"
fi
exit 0
