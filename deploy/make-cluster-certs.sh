#!/usr/bin/env bash
# Makes a certificate authority for a chatd cluster and one certificate per
# node, signed by it: what --cluster-cert, --cluster-key and --cluster-ca take.
#
#   deploy/make-cluster-certs.sh DIR NODE [NODE...]
#
# Writes DIR/ca.pem (give it to every node as --cluster-ca), DIR/ca.key (keep
# it off the nodes; it signs new nodes in), and DIR/NODE.pem + DIR/NODE.key
# for each node. Existing files are kept, so running it again with one more
# node name adds that node under the same CA. Keys are EC P-256, readable by
# the owner only (node keys also by the group CERTS_GROUP, if set).
set -euo pipefail

if (($# < 2)); then
  echo "usage: $0 DIR NODE [NODE...]" >&2
  exit 2
fi
dir=$1
shift
days=${CERTS_DAYS:-825}
mkdir -p "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -f $dir/ca.pem || ! -f $dir/ca.key ]]; then
  key "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" -subj "/CN=chatd cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.pem"
  chmod 644 "$dir/ca.pem"
  echo "made CA $dir/ca.pem"
fi

for node in "$@"; do
  [[ $node =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bad node name '$node'" >&2; exit 2; }
  [[ -f $dir/$node.pem && -f $dir/$node.key ]] && continue
  key "$dir/$node.key"
  ext=$(mktemp)
  # Peers authenticate each other in both directions: client and server use.
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:$node" >"$ext"
  openssl req -new -key "$dir/$node.key" -subj "/CN=$node" |
    openssl x509 -req -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -sha256 -days "$days" \
      -extfile "$ext" -out "$dir/$node.pem" 2>/dev/null
  rm -f "$ext"
  chmod 644 "$dir/$node.pem"
  echo "made $dir/$node.pem"
done
if [[ -n ${CERTS_GROUP:-} ]]; then # the nodes' keys only, never the CA's
  for node in "$@"; do
    chgrp "$CERTS_GROUP" "$dir/$node.key"
    chmod g+r "$dir/$node.key"
  done
fi
chmod a+rx "$dir"
