#!/usr/bin/env bash
# Installs what chatd needs to build and test (Debian bookworm packages).
# Usage: scripts/setup.sh [browser]   ("browser" adds what the browser test needs)
# Safe to run again: it only asks apt for what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev libboost-dev prometheus-cpp-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev googletest
  clang-format curl python3-websockets iproute2 nftables
  clang-14 libclang-rt-14-dev llvm-14 # libFuzzer targets (scripts/fuzz.sh); llvm-14 has the symbolizer
)
for group in "$@"; do
  case $group in
    browser) packages+=(chromium chromium-driver python3-selenium) ;;
    *) echo "setup.sh: unknown group '$group' (browser)" >&2; exit 2 ;;
  esac
done

"$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"
