#!/bin/sh
# Usage: apt-install-missing.sh PACKAGE...
# Installs, with apt, those of the Debian packages given that are not
# installed yet; does nothing (and needs no network) when all are there.
# Used by scripts/setup.sh and by the Dockerfiles, whose base images may or
# may not carry the packages already.
set -eu
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing:$missing"
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
