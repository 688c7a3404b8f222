#!/usr/bin/env bash
# Connect/disconnect churn in a room of MEMBERS idle members against one
# chatd: chatd pinned to the first CPU, chatd-presence-bench to the second
# (bench/README.md "Presence churn").
#   bench/presence/churn.sh [CHATD] [BENCH] [MEMBERS] [CHURNERS] [SECONDS] [raw|v1] [chatd flags...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
chatd=${1:-$root/build/release/app/chatd}
bench=${2:-$root/build/release/bench/chatd-presence-bench}
members=${3:-10000}
churners=${4:-8}
seconds=${5:-10}
protocol=${6:-raw}
shift $(($# < 6 ? $# : 6))
cpus=($(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'))
[ ${#cpus[@]} -ge 2 ] || { echo "churn.sh: needs 2 CPUs" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"
port=$((20000 + RANDOM % 10000))
log=$(mktemp)
taskset -c "${cpus[0]}" "$chatd" --bind 127.0.0.1 --port "$port" --threads 1 --max-handshakes-per-second 0 \
  --tick 1h "$@" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
taskset -c "${cpus[1]}" "$bench" "$port" "$pid" "$members" "$churners" "$seconds" "$protocol"
