#!/usr/bin/env bash
# The compose test: brings the docker-compose.yml cluster up from scratch
# under its own project name and free 127.0.0.1 ports, checks it with real
# WebSocket clients and Prometheus' API (deploy/compose_check.py), stops and
# restarts chatd2, then tears everything down and checks that no container,
# network or volume of the project is left. It does all of that once with
# Compose v2 (`docker compose`) and, where Compose v1 (`docker-compose`) is
# installed too, once more with v1, each run building the images with its
# own CLI and under its own project. Prints which CLI each run used, PASS or
# FAIL per run, then PASS only if every run passed; exit status 0 on pass.
# The v2 run adds docker-compose.auth.yml (tokens and the server API on every
# node) and checks those too; the v1 run checks the plain file.
#
#   deploy/compose-test.sh          # v2, then v1 where docker-compose exists
#   deploy/compose-test.sh v1       # only the CLIs named: v2, v1 (in that order)
#
# Needs a Docker engine, the Compose v2 plugin (scripts/setup.sh builds and
# installs it where it is missing: scripts/install-compose-v2.sh), and
# /usr/bin/python3 with python3-websockets. Runs deploy/make-base-images.sh
# first, which makes the Debian base images with debootstrap if they are not
# there (a few minutes, once). Building the chatd image compiles C++ (minutes on
# 2 cores) unless Docker's cache has it; v2 builds with BuildKit and v1 with
# the classic builder, whose caches are separate, so a cold run compiles it
# once per CLI. COMPOSE_TEST_TIMEOUT (seconds, default 2400) bounds each run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
started=$SECONDS

cli_command() { # v2|v1 -> the command, one word per line
  case $1 in
    v2) printf '%s\n' docker compose ;;
    v1) printf '%s\n' docker-compose ;;
    *) return 1 ;;
  esac
}

# ---- The driver: checks what every run needs, makes the base images once,
# then runs this script once per CLI (`--one CLI`), each in its own process
# with its own project, teardown and leftover check.
if [[ ${1-} != --one ]]; then
  say() { printf 'compose-test: %s\n' "$*" >&2; }
  trap 'say "interrupted"; exit 130' INT TERM
  for arg; do
    cli_command "$arg" >/dev/null || {
      say "unknown CLI '$arg' (v2, v1)"
      exit 2
    }
  done
  if (($#)); then
    clis=()
    for want in v2 v1; do
      if [[ " $* " == *" $want "* ]]; then clis+=("$want"); fi
    done
  else
    clis=(v2)
    if command -v docker-compose >/dev/null; then clis+=(v1); fi
  fi
  docker info >/dev/null 2>&1 || {
    say "no Docker engine"
    say "FAIL"
    exit 1
  }
  /usr/bin/python3 -c 'import websockets' 2>/dev/null || {
    say "/usr/bin/python3 cannot import websockets (apt install python3-websockets)"
    say "FAIL"
    exit 1
  }
  declare -A label
  for cli in "${clis[@]}"; do
    mapfile -t cmd < <(cli_command "$cli")
    if ! ver=$("${cmd[@]}" version --short 2>/dev/null); then
      case $cli in
        v2) say "'docker compose' (Compose v2) does not answer: scripts/setup.sh installs it (scripts/install-compose-v2.sh)" ;;
        v1) say "'docker-compose' (Compose v1) not found" ;;
      esac
      say "FAIL"
      exit 1
    fi
    label[$cli]="'${cmd[*]}' $ver"
  done
  runs=()
  for cli in "${clis[@]}"; do runs+=("$cli with ${label[$cli]}"); done
  say "${#runs[@]} run(s): $(printf '%s\n' "${runs[@]}" | paste -sd ';' | sed 's/;/; /g')"

  # Base images: made locally with debootstrap unless they exist already (a
  # machine with a registry may `docker pull debian:bookworm
  # debian:bookworm-slim` first instead; this script pulls nothing itself).
  say "base images"
  timeout 3600 "$here/make-base-images.sh" || {
    say "deploy/make-base-images.sh failed"
    say "FAIL ($((SECONDS - started)) s)"
    exit 1
  }

  failed=0
  summary=()
  for cli in "${clis[@]}"; do
    say "=== $cli: ${label[$cli]}"
    t=$SECONDS
    if "$BASH" "${BASH_SOURCE[0]}" --one "$cli"; then
      summary+=("$cli (${label[$cli]}): PASS ($((SECONDS - t)) s)")
    else
      summary+=("$cli (${label[$cli]}): FAIL ($((SECONDS - t)) s)")
      failed=1
    fi
  done
  for line in "${summary[@]}"; do say "$line"; done
  if ((failed)); then
    say "FAIL ($((SECONDS - started)) s)"
    exit 1
  fi
  say "PASS ($((SECONDS - started)) s, ${#clis[@]} run(s): ${clis[*]})"
  exit 0
fi

# ---- One run with one CLI (started by the driver above).
cli=${2:?}
mapfile -t compose < <(cli_command "$cli")
project=chatd-test-$$
overall_timeout=${COMPOSE_TEST_TIMEOUT:-2400} # seconds, a fresh image build included

say() { printf 'compose-test (%s): %s\n' "$cli" "$*" >&2; }

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

files=(-f "$top/docker-compose.yml")
check_args=()
if [[ $cli == v2 ]]; then
  files+=(-f "$top/docker-compose.auth.yml")
  check_args+=(--auth)
fi
dc=("${compose[@]}" "${files[@]}" -p "$project")

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
  --compose "$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${compose[@]}" "${files[@]}")" \
  --project "$project" --ports "$p1,$p2,$p3" --prometheus-port "$pp" "${check_args[@]}"
result=0
