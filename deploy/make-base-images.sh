#!/usr/bin/env bash
# Makes the two base images the Dockerfiles use, debian:bookworm and
# debian:bookworm-slim, locally with debootstrap, for machines that reach a
# Debian mirror but no container registry. With a registry you do not need
# this: `docker compose up` pulls the official images.
#
#   deploy/make-base-images.sh          # needs root (or sudo) and a Docker engine
#
# Each root is Debian bookworm (minbase) from deb.debian.org that already
# contains the packages its stages install (read from the ARG lines of
# Dockerfile and deploy/prometheus/Dockerfile), upgraded from
# bookworm-updates and bookworm-security, with apt lists and caches removed,
# then `docker import`ed. An image that already exists is left alone, so
# running it again is quick. Nothing of this machine's apt configuration,
# proxy settings, hostname or resolver goes into an image: debootstrap and
# the chroot run with a clean environment, and /etc/apt, /etc/hosts,
# /etc/hostname and /etc/resolv.conf in the root are written from scratch.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
suite=bookworm
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security
step_timeout=${MAKE_BASE_IMAGES_TIMEOUT:-1500} # seconds, per debootstrap / apt step

log() { printf 'make-base-images: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "needs root (debootstrap, chroot)"
  exec sudo -- "$0" "$@"
fi
command -v docker >/dev/null || die "docker not found"

# Package lists: the single source is the ARG line in each Dockerfile.
arg_list() { # file ARG_NAME
  local v
  v=$(sed -n "s/^ARG $2=\"\\(.*\\)\"\$/\\1/p" "$1")
  [[ -n $v ]] || die "no ARG $2 in $1"
  printf '%s\n' "$v"
}
build_pkgs="$(arg_list "$top/Dockerfile" BUILD_PACKAGES) $(arg_list "$here/prometheus/Dockerfile" PROMETHEUS_PACKAGES)"
runtime_pkgs=$(arg_list "$top/Dockerfile" RUNTIME_PACKAGES)

want=()
docker image inspect debian:bookworm >/dev/null 2>&1 || want+=(bookworm)
docker image inspect debian:bookworm-slim >/dev/null 2>&1 || want+=(bookworm-slim)
if ((${#want[@]} == 0)); then
  log "debian:bookworm and debian:bookworm-slim exist; nothing to do"
  exit 0
fi

# A clean environment for everything that touches a root: no proxy
# variables, no locale or host settings.
clean_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive)

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 \
    apt-get install -y -qq --no-install-recommends debootstrap debian-archive-keyring >/dev/null
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || die "$keyring missing (apt-get install debian-archive-keyring)"

work=$(mktemp -d /var/tmp/chatd-base-images.XXXXXX)
unmount_under() { # every mount point under $1, deepest first
  local m
  awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
  unmount_under "$work"
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/cache"

make_root() { # name, packages...
  local name=$1 root="$work/$1"
  shift
  local include
  include=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
  log "debootstrap $suite ($name) with: $include"
  mkdir -p "$root"
  if ! "${clean_env[@]}" timeout "$step_timeout" debootstrap --variant=minbase --components=main \
    --keyring="$keyring" --cache-dir="$work/cache" --include="$include" \
    "$suite" "$root" "$mirror" >"$work/$name.log" 2>&1; then
    tail -n 30 "$work/$name.log" >&2
    [[ -f $root/debootstrap/debootstrap.log ]] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed for $name"
  fi

  # debootstrap copies nothing of the host's /etc/apt; write the sources
  # ourselves anyway and check the rest below.
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
  # Like the official images: no recommends, no caches kept in layers.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  echo localhost >"$root/etc/hostname"

  # Point-release and security updates, in the chroot with its own apt
  # config; services must not start (policy-rc.d).
  cp /etc/resolv.conf "$root/etc/resolv.conf" # only while updating; replaced below
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  log "upgrading $name from $suite-updates and $suite-security"
  if ! "${clean_env[@]}" timeout "$step_timeout" chroot "$root" sh -c \
    'apt-get update -qq && apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade' \
    >"$work/$name-upgrade.log" 2>&1; then
    tail -n 30 "$work/$name-upgrade.log" >&2
    die "apt upgrade failed for $name"
  fi
  umount -l "$root/proc"
  # policy-rc.d stays, as in the official images: no service starts when a
  # package is installed in a container.
  : >"$root/etc/resolv.conf"
  chmod 644 "$root/etc/resolv.conf" "$root/etc/hostname" "$root/etc/hosts"

  # Small and anonymous.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/cache/apt/archives/partial/* "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/var/log/bootstrap.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.[!.]*
  mkdir -p "$root/var/lib/apt/lists/partial"
  : >"$root/var/log/dpkg.log"
  : >"$root/var/log/alternatives.log"
  rm -f "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
  [[ -e $root/debootstrap ]] && die "$name: debootstrap did not finish"

  # Refuse to import apt settings that are neither a package's nor ours, or
  # that look like proxy, registry or credential settings.
  local f stray=()
  while IFS= read -r f; do
    case $f in
      /etc/apt/sources.list | /etc/apt/apt.conf.d/docker-clean | /etc/apt/apt.conf.d/docker-no-recommends) ;;
      *) chroot "$root" dpkg-query -S "$f" >/dev/null 2>&1 || stray+=("$f") ;;
    esac
  done < <(cd "$root" && find etc/apt -type f -printf '/%p\n')
  ((${#stray[@]} == 0)) || die "$name: unexpected files in /etc/apt: ${stray[*]}"
  if grep -rIilE 'proxy|artifactregistry|pkg\.dev|password|token' --exclude-dir=trusted.gpg.d \
    --exclude-dir=keyrings "$root/etc/apt" >&2; then
    die "$name: unexpected apt settings in the root (listed above)"
  fi
}

slim_root() { # trim like debian:*-slim: no docs (copyright kept), man, info, locales
  local root="$work/$1"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Like the official -slim images: keep images small.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
    "$root"/usr/share/lintian/* "$root"/usr/share/linda/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
}

import_root() { # name
  local name=$1 root="$work/$1" tag="debian:$1"
  log "importing $tag"
  tar --numeric-owner --xattrs -C "$root" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' -c . |
    timeout 600 docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      --change 'LABEL org.opencontainers.image.description="Debian bookworm made locally by chatd deploy/make-base-images.sh"' \
      - "$tag" >/dev/null
  docker image inspect "$tag" --format "make-base-images: $tag {{.Id}} {{.Size}} bytes" >&2
  unmount_under "$root"
  rm -rf --one-file-system "$root"
}

start=$SECONDS
for name in "${want[@]}"; do
  case $name in
    bookworm)
      # shellcheck disable=SC2086 # word splitting of the package lists is intended
      make_root bookworm $build_pkgs
      ;;
    bookworm-slim)
      # shellcheck disable=SC2086
      make_root bookworm-slim $runtime_pkgs
      slim_root bookworm-slim
      ;;
  esac
  import_root "$name"
done
log "done in $((SECONDS - start)) s"
