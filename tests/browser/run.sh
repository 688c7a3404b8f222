#!/usr/bin/env bash
# The browser test: installs Debian's chromium, chromium-driver and
# python3-selenium if missing, then runs tests/browser/browser_test.py with the
# system python and exits with its status. CHATD_BINARY picks the chatd binary
# (default build/release/app/chatd); screenshots go to build/browser-artifacts/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

"$root/scripts/setup.sh" browser

exec /usr/bin/python3 "$root/tests/browser/browser_test.py"
