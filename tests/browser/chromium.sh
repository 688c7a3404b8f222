#!/bin/sh
# Debian's chromium, killed when its parent (chromedriver) dies: chromedriver
# itself dies with the test, so even a test killed with SIGKILL leaves no browser.
exec setpriv --pdeathsig KILL "${CHATD_CHROMIUM:-/usr/bin/chromium}" "$@"
