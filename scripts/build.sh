#!/usr/bin/env bash
# Usage: scripts/build.sh [release|asan|tsan]  -> build/<kind>
# Configures once, then builds incrementally.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-release}
case $kind in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=Debug "-DCHATD_SANITIZE=address,undefined") ;;
  tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHATD_SANITIZE=thread) ;;
  *) echo "build.sh: unknown build '$kind' (release, asan, tsan)" >&2; exit 2 ;;
esac
dir=$root/build/$kind
[[ -f $dir/build.ninja ]] || cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
# Two jobs: CAF templates need about 1 GiB per compiler process.
ninja -C "$dir" -j "${CHATD_BUILD_JOBS:-$(nproc)}"
