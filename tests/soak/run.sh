#!/usr/bin/env bash
# The bounded soak test (tests/soak/README.md): first the self-test of its
# pass/fail judgement on synthetic series (a leak must fail), then MINUTES of
# churn against one chatd process; exits 0 only if both pass. Samples and
# chatd's log go to build/soak/.
#
#   tests/soak/run.sh [MINUTES (default 10)] [CHATD (default build/release/app/chatd)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
minutes=${1:-10}
chatd=${2:-$root/build/release/app/chatd}

if ! /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
  echo "soak: /usr/bin/python3 cannot import websockets (python3-websockets; scripts/setup.sh installs it)" >&2
  exit 1
fi
if [[ ! -x $chatd ]]; then
  echo "soak: no chatd binary at $chatd (scripts/build.sh release builds it)" >&2
  exit 1
fi

/usr/bin/python3 "$root/tests/soak/soak.py" --self-test
exec /usr/bin/python3 "$root/tests/soak/soak.py" --minutes "$minutes" --chatd "$chatd" --out-dir "$root/build/soak"
