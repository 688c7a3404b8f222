#!/usr/bin/env bash
# Makes the two secrets of a chatd that checks who connects and takes calls
# from backends: DIR/jwt-secret (an HS256 secret: --auth-jwt-key, and what
# `chatd token --secret-file` signs development tokens with) and DIR/api-key
# (--api-key-file: the Bearer key of the server API). Existing files are
# kept, so every node of a cluster can share one volume made once.
#
#   deploy/make-auth-secrets.sh DIR
#
# Both are 32 random bytes, hex; readable by the owner and the group
# SECRETS_GROUP (if set) only.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
umask 027

for name in jwt-secret api-key; do
  [[ -s $dir/$name ]] && continue
  openssl rand -hex 32 >"$dir/$name"
  [[ -n ${SECRETS_GROUP-} ]] && chgrp "$SECRETS_GROUP" "$dir/$name"
  chmod 640 "$dir/$name"
  echo "made $dir/$name"
done
