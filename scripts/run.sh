#!/usr/bin/env bash
# Installs, builds and runs one chatd node on port 9000 (no cluster).
# Extra arguments go to chatd, e.g. scripts/run.sh --threads 4 --tick 1s
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release >/dev/null
exec "$root/build/release/app/chatd" --port 9000 "$@"
