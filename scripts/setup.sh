#!/usr/bin/env bash
# Installs what chatd needs to build and test (Debian bookworm packages).
# Usage: scripts/setup.sh [browser] [bench]
#   browser: what the browser test needs
#   bench:   what bench/compare and bench/smoke need besides the build: gnuplot
#            (the PNG plot), perf (compare --profile), fonts for the plot, and
#            the Go peers' modules (go mod download; Go itself is expected at
#            /usr/local/go, as on the project's machines)
# Safe to run again: it only asks apt for what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev libboost-dev prometheus-cpp-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev googletest
  clang-format curl python3-websockets iproute2 nftables
  clang-14 libclang-rt-14-dev llvm-14 # libFuzzer targets (scripts/fuzz.sh); llvm-14 has the symbolizer
)
bench=0
for group in "$@"; do
  case $group in
    browser) packages+=(chromium chromium-driver python3-selenium) ;;
    bench)
      packages+=(gnuplot-nox fonts-dejavu-core linux-perf util-linux) # util-linux: taskset
      bench=1 ;;
    *) echo "setup.sh: unknown group '$group' (browser, bench)" >&2; exit 2 ;;
  esac
done

"$root/scripts/apt-install-missing.sh" "${packages[@]}"

if [ "$bench" = 1 ]; then
  go=$(command -v go || echo /usr/local/go/bin/go)
  if [ ! -x "$go" ]; then
    echo "setup.sh bench: no Go toolchain (go on PATH or /usr/local/go/bin/go); bench/compare builds its peers with it" >&2
    exit 1
  fi
  for peer in "$root"/bench/peers/gnet "$root"/bench/peers/gorilla; do
    (cd "$peer" && "$go" mod download) # through the Go module proxy; nothing to do when cached
  done
fi
