#!/usr/bin/env bash
# Fault tests: a 3-node chatd cluster (each node in its own network
# namespace) under steady chat-bench load; a node is killed and restarted,
# paused past the heartbeat timeout, and cut off from its peers: with
# ordered rooms every client gets every message once, in order, resuming
# after its reconnects (--order on); without, every message a client missed
# must be accounted for by chatd's counters (--order off). Both run. See
# tests/faults/README.md. Builds nothing: takes the binaries of build/release
# (or CHATD_BINARY / CHAT_BENCH_BINARY). Prints SKIP and exits 0 where it
# cannot run (not root, no network namespaces or nftables).
#   tests/faults/run.sh [faults.py options, e.g. --phases kill --keep DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
chatd=${CHATD_BINARY:-$root/build/release/app/chatd}
bench=${CHAT_BENCH_BINARY:-$root/build/release/bench/chat-bench}

skip() {
  echo "faults: SKIP: $*"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables)"
for tool in ip nft curl; do
  command -v "$tool" >/dev/null || skip "$tool is missing (scripts/setup.sh installs it)"
done
tag=cft$$
if ! ip netns add "$tag-probe" 2>/dev/null; then
  skip "cannot create network namespaces here"
fi
probe_ok=1
ip netns exec "$tag-probe" nft list tables >/dev/null 2>&1 || probe_ok=0
ip -n "$tag-probe" link add probe0 type bridge 2>/dev/null || probe_ok=0
ip netns del "$tag-probe"
((probe_ok)) || skip "nftables or bridges are not available in a network namespace here"

# Whatever happens to the driver, leave no namespace (and no process in one)
# behind: on a signal the driver is stopped (it cleans up itself), then
# anything left in our namespaces is killed and the namespaces deleted.
driver=
cleanup() {
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
  for ns in $(ip netns list 2>/dev/null | awk -v t="$tag-" 'index($1, t) == 1 {print $1}'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

/usr/bin/python3 "$here/test_accounting.py" -q
/usr/bin/python3 "$here/test_recovery.py" -q
# Both forms (faults.py --order on|off), one after the other, unless the
# arguments name one.
orders=(off on)
for a in "$@"; do
  case $a in --order | --order=*) orders=(given) ;; esac
done
status=0
for order in "${orders[@]}"; do
  flags=()
  [ "$order" = given ] || flags=(--order "$order")
  /usr/bin/python3 "$here/faults.py" --chatd "$chatd" --bench "$bench" --tag "$tag" "${flags[@]}" "$@" &
  driver=$!
  wait "$driver" || status=1
  driver=
done
exit "$status"
