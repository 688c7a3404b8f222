#!/usr/bin/env bash
# The compose test: brings the docker-compose.yml cluster up from scratch
# under its own project name and free 127.0.0.1 ports, checks it with real
# WebSocket clients and Prometheus' API (deploy/compose_check.py), stops and
# restarts chatd2, then tears everything down and checks that no container,
# network or volume of the project is left. Prints PASS or FAIL; exit status
# 0 on pass.
#
#   deploy/compose-test.sh
#
# Needs a Docker engine, `docker compose` or `docker-compose`, and
# /usr/bin/python3 with python3-websockets. Runs deploy/make-base-images.sh
# first, which makes the Debian base images with debootstrap if they are not
# there (a few minutes, once). Building the chatd image compiles C++ (minutes on
# 2 cores) unless Docker's cache has it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
project=chatd-test-$$
overall_timeout=${COMPOSE_TEST_TIMEOUT:-2400} # seconds, a fresh image build included
started=$SECONDS

say() { printf 'compose-test: %s\n' "$*" >&2; }

leftovers() {
  {
    docker ps -a -q --filter "label=com.docker.compose.project=$project"
    docker network ls -q --filter "label=com.docker.compose.project=$project"
    docker volume ls -q --filter "label=com.docker.compose.project=$project"
    docker ps -a -q --filter "name=^${project}[_-]"
    docker network ls -q --filter "name=^${project}_"
    docker volume ls -q --filter "name=^${project}_"
  } 2>/dev/null | sort -u
}

result=1
dc=()
finish() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#dc[@]} == 0)); then # nothing started yet
    say "FAIL ($((SECONDS - started)) s)"
    exit 1
  fi
  ((result == 0 && rc == 0)) || {
    say "logs (last lines per service):"
    timeout 60 "${dc[@]}" logs --no-color --tail 40 >&2 2>&1 || true
  }
  say "tearing down $project"
  timeout 180 "${dc[@]}" down -v --remove-orphans -t 10 >&2 2>&1 || say "down failed"
  local left
  left=$(leftovers)
  if [[ -n $left ]]; then
    say "left behind by $project: $(echo "$left" | tr '\n' ' ')"
    result=1
  else
    say "ok: no containers, networks or volumes of $project left"
  fi
  if ((result == 0 && rc == 0)); then
    say "PASS ($((SECONDS - started)) s)"
    exit 0
  fi
  say "FAIL ($((SECONDS - started)) s)"
  exit 1
}
trap finish EXIT
trap 'say "interrupted"; exit 130' INT TERM

remaining() { # seconds left of the overall budget, at least 1
  local r=$((overall_timeout - (SECONDS - started)))
  echo $((r > 0 ? r : 1))
}

# Compose v2 plugin if present, else docker-compose (v1.29 works too).
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  say "neither 'docker compose' nor 'docker-compose' found"
  exit 1
fi
/usr/bin/python3 -c 'import websockets' 2>/dev/null || {
  say "/usr/bin/python3 cannot import websockets (apt install python3-websockets)"
  exit 1
}
docker info >/dev/null 2>&1 || {
  say "no Docker engine"
  exit 1
}

# Base images: made locally with debootstrap unless they exist already (a
# machine with a registry may `docker pull debian:bookworm
# debian:bookworm-slim` first instead; this script pulls nothing itself).
say "base images"
timeout 3600 "$here/make-base-images.sh"

# Free ports on 127.0.0.1 for the three nodes and Prometheus, below the
# ephemeral range so that outgoing connections and tests using port 0 do not
# take them between here and `up`.
pick_ports() {
  /usr/bin/python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
lo = max(lo, 2048)
ports, socks = [], []
for _ in range(10000):
    if len(ports) == 4:
        break
    p = random.randrange(max(1024, lo - 10000), lo)
    if p in ports:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    socks.append(s)
    ports.append(p)
if len(ports) < 4:
    raise SystemExit("no free ports")
print(*ports)
PY
}

dc=("${compose[@]}" -f "$top/docker-compose.yml" -p "$project")

say "building (compiles C++ unless Docker's cache has the image; may take minutes)"
timeout "$(remaining)" "${dc[@]}" build >&2

# Start; should a picked port be taken meanwhile, tear down and pick again.
for attempt in 1 2 3; do
  read -r p1 p2 p3 pp < <(pick_ports) && [[ -n $pp ]] || exit 1
  export CHATD_PUBLISH_ADDR=127.0.0.1 CHATD1_PORT=$p1 CHATD2_PORT=$p2 CHATD3_PORT=$p3 PROMETHEUS_PORT=$pp
  say "starting $project with ${compose[*]}: chatd on 127.0.0.1:$p1,$p2,$p3, prometheus on 127.0.0.1:$pp"
  if timeout "$(remaining)" "${dc[@]}" up -d >&2; then
    break
  fi
  ((attempt < 3)) || exit 1
  say "up failed (attempt $attempt); tearing down and retrying with other ports"
  timeout 180 "${dc[@]}" down -v --remove-orphans -t 10 >&2 2>&1 || true
done

say "checking"
timeout "$(remaining)" /usr/bin/python3 "$here/compose_check.py" \
  --compose "$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${compose[@]}" -f "$top/docker-compose.yml")" \
  --project "$project" --ports "$p1,$p2,$p3" --prometheus-port "$pp"
result=0
