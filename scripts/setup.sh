#!/usr/bin/env bash
# Installs what chatd needs to build and test (Debian bookworm packages).
# Usage: scripts/setup.sh [browser] [bench] [compose]
#   browser: what the browser test needs
#   compose: the Compose v2 CLI plugin where a Docker engine answers and
#            `docker compose` is missing (the test suite's compose test)
#   bench:   what bench/compare and bench/smoke need besides the build: gnuplot
#            (the PNG plot), perf (compare --profile), fonts for the plot, and
#            the Go peers' modules (go mod download; Go itself is expected at
#            /usr/local/go, as on the project's machines)
# Safe to run again: it only asks apt for what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev libboost-dev prometheus-cpp-dev libspdlog-dev libcli11-dev libjwt-dev nlohmann-json3-dev zlib1g-dev
  libgtest-dev libgmock-dev googletest
  clang-format curl python3-websockets iproute2 nftables
  clang-14 libclang-rt-14-dev llvm-14 # libFuzzer targets (scripts/fuzz.sh); llvm-14 has the symbolizer
)
bench=0
compose=0
for group in "$@"; do
  case $group in
    browser) packages+=(chromium chromium-driver python3-selenium) ;;
    bench)
      packages+=(gnuplot-nox fonts-dejavu-core linux-perf util-linux) # util-linux: taskset
      bench=1 ;;
    compose) compose=1 ;;
    *) echo "setup.sh: unknown group '$group' (browser, bench, compose)" >&2; exit 2 ;;
  esac
done

"$root/scripts/apt-install-missing.sh" "${packages[@]}"

# The compose test runs under Compose v2 (`docker compose`): where a Docker
# engine answers and the plugin is missing, build it from the Go module
# proxy and install it (scripts/install-compose-v2.sh; minutes, once).
if [ "$compose" = 1 ] && command -v docker >/dev/null && docker info >/dev/null 2>&1 &&
  ! docker compose version >/dev/null 2>&1; then
  "$root/scripts/install-compose-v2.sh"
fi

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
