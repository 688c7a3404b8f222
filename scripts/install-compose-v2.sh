#!/usr/bin/env bash
# Builds the Docker Compose v2 CLI plugin (`docker compose`) from its Go
# module and installs it where the Docker CLI finds plugins, for machines
# whose Docker has no Compose v2 and no registry or release download to get
# it from, only the Go module proxy. scripts/setup.sh runs it when a Docker
# engine answers and `docker compose version` fails.
#
#   scripts/install-compose-v2.sh
#
# Nothing to do (and no network needed) when `docker compose version`
# already answers. Otherwise: `go mod download` of
# github.com/docker/compose/v2 at the version pinned below (`go install`
# refuses that module because its go.mod has exclude directives), `go build`
# of its ./cmd package in a writable copy, the way its Makefile builds a
# release (CGO off, -trimpath, the version stamped into internal.Version),
# then install as
#   /usr/local/lib/docker/cli-plugins/docker-compose   (root)
#   ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-compose   (otherwise)
# and check `docker compose version`. A cold build downloads about 500 MB of
# modules and compiles for several minutes on 2 cores. The modules and the
# built binary are kept in ${XDG_CACHE_HOME:-~/.cache}/chatd/compose-v2
# (CHATD_COMPOSE_CACHE overrides), so installing again after the plugin was
# removed copies the binary and downloads nothing.
#
# Needs Go (go on PATH or /usr/local/go/bin/go) no older than the module's
# go.mod asks for (go 1.24.9 for the pinned version; built here with go1.26.8).
set -euo pipefail

# The newest version on the module proxy that builds with the project's Go.
version=v2.40.3
module=github.com/docker/compose/v2

say() { printf 'install-compose-v2: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

if [[ $(id -u) -eq 0 ]]; then
  plugin_dir=/usr/local/lib/docker/cli-plugins
else
  plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi
plugin=$plugin_dir/docker-compose

command -v docker >/dev/null || die "no docker CLI: the plugin is of no use without one"
if have=$(docker compose version 2>/dev/null); then
  say "already there: $have"
  exit 0
fi

cache=${CHATD_COMPOSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chatd/compose-v2}
mkdir -p "$cache"
# One install at a time (several work trees may run setup at once).
exec 9>"$cache/lock"
flock 9
if have=$(docker compose version 2>/dev/null); then
  say "installed meanwhile: $have"
  exit 0
fi

binary=$cache/docker-compose-$version
if [[ -x $binary ]] && "$binary" version >/dev/null 2>&1; then
  say "using the binary built before: $binary"
else
  go=$(command -v go || echo /usr/local/go/bin/go)
  [[ -x $go ]] || die "no Go toolchain (go on PATH or /usr/local/go/bin/go)"
  started=$SECONDS
  # The module cache is kept (writable, so that rm -rf can remove it); the
  # build cache is only needed while building.
  build_tmp=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$build_tmp"' EXIT
  export GOMODCACHE=$cache/mod GOCACHE=$build_tmp/go-build GOPATH=$cache/gopath \
    GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" GOTOOLCHAIN=local CGO_ENABLED=0
  say "building Compose $version with $("$go" version | cut -d' ' -f3) (modules from the Go module proxy; several minutes)"
  # Outside any module, so that only the module itself is fetched here.
  info=$(cd "$build_tmp" && "$go" mod download -json "$module@$version") ||
    die "go mod download $module@$version failed: $info"
  dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [[ -n $dir && -f $dir/go.mod ]] || die "no module directory in: $info"
  cp -R "$dir" "$build_tmp/src"
  chmod -R u+w "$build_tmp/src"
  # The release build's flags: see the module's Makefile (GO_LDFLAGS) and
  # docker-bake.hcl; the version string lives in internal.Version.
  (cd "$build_tmp/src" && "$go" build -trimpath \
    -ldflags "-s -w -X $module/internal.Version=$version" \
    -o "$build_tmp/docker-compose" ./cmd)
  "$build_tmp/docker-compose" version >/dev/null || die "the built binary does not run"
  mv -f "$build_tmp/docker-compose" "$binary"
  say "built in $((SECONDS - started)) s"
fi

mkdir -p "$plugin_dir"
install -m 0755 "$binary" "$plugin.tmp"
mv -f "$plugin.tmp" "$plugin"
have=$(docker compose version 2>&1) || die "installed $plugin, but 'docker compose version' fails: $have"
[[ $have == *"$version"* ]] || die "'docker compose version' says '$have', not $version (another docker-compose plugin comes first?)"
say "installed $plugin: $have"
