#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 60)
# Builds the libFuzzer targets (scripts/build.sh fuzz -> build/fuzz) and runs
# each for the given time on its working corpus, build/fuzz/corpus-work/<target>
# (a copy of the seeds that keeps what runs find; the committed seeds in
# tests/fuzz/corpus/ are read, never written). Full logs go to
# build/fuzz/logs/, crash/leak/timeout inputs to build/fuzz/artifacts/.
# Exits 1 if a target found anything. tests/fuzz/README.md says more.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
  exit 2
fi

echo "== fuzz: build"
"$root/scripts/build.sh" fuzz | tail -1
dir=$root/build/fuzz
mkdir -p "$dir/artifacts" "$dir/logs"

# Leak detection stays on: libFuzzer checks for leaks after inputs and
# LeakSanitizer checks the whole process at exit, after the harness has
# stopped chatd's server. UBSan reports stop the run (the code is also built
# with -fno-sanitize-recover=undefined).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]] && command -v llvm-symbolizer-14 >/dev/null; then
  ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer-14)
  export ASAN_SYMBOLIZER_PATH
fi
echo "sanitizers: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"

failed=0
for name in http websocket websocket_deflate; do
  target=chatd_fuzz_$name
  seeds=$root/tests/fuzz/corpus/$name
  work=$dir/corpus-work/$target
  log=$dir/logs/$target.log
  mkdir -p "$work"
  for seed in "$seeds"/*; do
    [[ -e $work/${seed##*/} ]] || cp "$seed" "$work/"
  done
  echo "== fuzz: $target, ${seconds}s (corpus: $(find "$work" -type f | wc -l) inputs in ${work#"$root"/})"
  before=$(find "$dir/artifacts" -type f -name "$target-*" | sort)
  status=0
  # libFuzzer stops itself after -max_total_time; the outer bound only
  # catches a run that cannot end (e.g. stuck while stopping the server).
  timeout -k 10 $((seconds + 120)) "$dir/tests/fuzz/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$root/tests/fuzz/${name%_deflate}.dict" -artifact_prefix="$dir/artifacts/$target-" \
    "$work" "$seeds" >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^chatd fuzz harness' "$log" || true
  if ((status != 0)); then
    failed=1
    echo "!! $target: libFuzzer exited with status $status; the end of ${log#"$root"/}:"
    tail -n 60 "$log"
    new=$(comm -13 <(echo "$before") <(find "$dir/artifacts" -type f -name "$target-*" | sort))
    if [[ -n $new ]]; then
      echo "!! input(s) that did it (reproduce with: build/fuzz/tests/fuzz/$target <file>):"
      echo "$new"
    fi
  fi
done

if ((failed)); then
  echo "fuzz.sh: a target found a problem" >&2
  exit 1
fi
echo "fuzz.sh: no crash, leak or timeout"
