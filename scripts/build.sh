#!/usr/bin/env bash
# Usage: scripts/build.sh [release|asan|tsan|fuzz]  -> build/<kind>
# Configures once, then builds incrementally. "fuzz" builds only the libFuzzer
# targets (tests/fuzz/), with clang-14.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-release}
targets=() # empty: everything
case $kind in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=Debug "-DCHATD_SANITIZE=address,undefined") ;;
  tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHATD_SANITIZE=thread) ;;
  # -O1 without NDEBUG: assertions (ours and Boost's) stay on while fuzzing.
  fuzz)
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" -DCHATD_FUZZ=ON)
    export CC=clang-14 CXX=clang++-14
    targets=(chatd_fuzz_http chatd_fuzz_websocket chatd_fuzz_websocket_deflate) ;;
  *) echo "build.sh: unknown build '$kind' (release, asan, tsan, fuzz)" >&2; exit 2 ;;
esac
dir=$root/build/$kind
# Let ccache share results between clones of the repository (CI builds fresh
# clones): paths are made relative to the root and the clone's own directory
# is not part of the key (debug info may then name another clone's path).
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
[[ -f $dir/build.ninja ]] || cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
# One job per core; a CAF-heavy file takes about 1 GiB to compile.
ninja -C "$dir" -j "${CHATD_BUILD_JOBS:-$(nproc)}" "${targets[@]}"
