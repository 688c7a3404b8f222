#!/usr/bin/python3
"""Checks a running docker-compose chatd cluster; run by deploy/compose-test.sh.

Talks only to 127.0.0.1 (the published ports) and runs the given compose
command for `stop`/`start` of chatd2. Every wait has a timeout. Exit status
0 when every check passed, 1 otherwise (the first failure is printed).

With --auth (the cluster runs with docker-compose.auth.yml too), every
client signs in with a token minted by `chatd token` inside chatd1, a client
without one must get 401, and the server API is checked with the key from
the auth volume: a message published with `curl`-like POST reaches the
clients of every node, and each node's presence of the room lists them.

Needs Debian's python3-websockets.
"""

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import websockets

HOST = "127.0.0.1"
NODES = ("chatd1", "chatd2", "chatd3")

# No proxies, whatever the environment says: every request goes to 127.0.0.1.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CheckFailed(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def http_get(port, path, timeout=3.0):
    with _http.open(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


def metric(port, name):
    """Sum of all samples of `name` (no labels expected) on a node, or None."""
    try:
        status, body = http_get(port, "/metrics")
    except OSError:
        return None
    if status != 200:
        return None
    total, seen = 0.0, False
    for line in body.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{[^}}]*\}})?\s+(\S+)", line)
        if m:
            total += float(m.group(1))
            seen = True
    return total if seen else None


async def wait_until(what, pred, timeout, interval=0.5):
    """Polls pred() (sync, may return a description of the current state
    via a (ok, state) tuple) until true or timeout."""
    deadline = time.monotonic() + timeout
    state = None
    while True:
        res = await asyncio.get_running_loop().run_in_executor(None, pred)
        ok, state = res if isinstance(res, tuple) else (res, None)
        if ok:
            return state
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what} (last: {state})")
        await asyncio.sleep(interval)


class Compose:
    def __init__(self, cmd, project):
        self.base = cmd + ["-p", project]

    def run(self, *args, timeout=120):
        log("$ " + " ".join(self.base + list(args)))
        p = subprocess.run(self.base + list(args), timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise CheckFailed(f"{' '.join(args)} failed ({p.returncode}): {p.stdout[-2000:]}")
        return p.stdout

    def container(self, service):
        out = self.run("ps", "-a", "-q", service, timeout=60).split()
        ids = [x for x in out if re.fullmatch(r"[0-9a-f]{12,64}", x)]
        if len(ids) != 1:
            raise CheckFailed(f"expected one container for {service}, got {out}")
        return ids[0]


def inspect(cid, fmt, timeout=30):
    p = subprocess.run(["docker", "inspect", "--format", fmt, cid], timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def http_request(port, method, path, body=b"", headers=None, timeout=5.0):
    """(status, body) of any request; an HTTP error status is an answer too."""
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=body if method != "GET" else None,
                                 method=method, headers=headers or {})
    try:
        with _http.open(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# Set in main() with --auth: node name -> the token its client signs in with.
TOKENS = {}


class Client:
    """A WebSocket client that records every text message it receives."""

    def __init__(self, name, port, room):
        self.name, self.port, self.room = name, port, room
        self.received = []
        self.closed = None
        self.changed = asyncio.Event()

    async def connect(self):
        query = f"?token={TOKENS[self.name]}" if self.name in TOKENS else ""
        self.ws = await websockets.connect(f"ws://{HOST}:{self.port}/rooms/{self.room}{query}",
                                           open_timeout=10, close_timeout=5, ping_interval=None)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for msg in self.ws:
                self.received.append(msg)
                self.changed.set()
        except websockets.ConnectionClosed as e:
            self.closed = e
        self.closed = self.closed or "closed"
        self.changed.set()

    async def send(self, text):
        await self.ws.send(text)

    async def wait_for(self, what, pred, timeout):
        deadline = time.monotonic() + timeout
        while not pred(self.received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"{self.name}: timed out after {timeout:.0f}s waiting for {what}; "
                                  f"got {len(self.received)} messages, last {self.received[-3:]}, "
                                  f"closed={self.closed}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 10)
        except Exception:
            pass
        self.reader.cancel()


async def sync(clients, tag, timeout=20):
    """Each client sends numbered probes until every client has seen a probe
    from every other: joins have propagated through the cluster. A probe
    that arrives before the route exists is lost, hence the repetition."""
    stop = asyncio.Event()

    async def probe(c):
        n = 0
        while not stop.is_set():
            await c.send(f"sync-{tag}-{c.name}-{n}")
            n += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    senders = [asyncio.ensure_future(probe(c)) for c in clients]
    try:
        for c in clients:
            for o in clients:
                await c.wait_for(f"a probe from {o.name}",
                                 lambda rx, o=o: any(m.startswith(f"sync-{tag}-{o.name}-") for m in rx),
                                 timeout)
    finally:
        stop.set()
        await asyncio.gather(*senders, return_exceptions=True)


async def each_got_each_once(clients, sent, timeout):
    """Every client receives every client's message of `sent` (name -> text)
    within `timeout`, and each exactly once."""
    for c in clients:
        for o in clients:
            await c.wait_for(f"{sent[o.name]}", lambda rx, m=sent[o.name]: m in rx, timeout)
    for c in clients:
        for o in clients:
            if c.received.count(sent[o.name]) != 1:
                raise CheckFailed(f"{c.name} got {sent[o.name]} {c.received.count(sent[o.name])} times")


async def at_once(clients, tag, timeout=15):
    """Each client sends one message at once, with no probing first: every
    client gets every message exactly once (as a new user's first messages
    right after `up` must)."""
    sent = {c.name: f"first-{tag}-from-{c.name}-{time.time_ns()}" for c in clients}
    await asyncio.gather(*(c.send(sent[c.name]) for c in clients))
    await each_got_each_once(clients, sent, timeout)
    log(f"ok: messages sent at once by a client on each node reached every client ({len(clients)})")


async def exchange(clients, tag, timeout=10):
    """A message from each client reaches every other client (and itself)."""
    await sync(clients, tag)
    sent = {}
    for c in clients:
        sent[c.name] = f"msg-{tag}-from-{c.name}-{time.time_ns()}"
        await c.send(sent[c.name])
    await each_got_each_once(clients, sent, timeout)
    names = ", ".join(c.name for c in clients)
    log(f"ok: every message reached every client ({names})")


async def check_auth_and_api(compose, ports, room, clients):
    """--auth: no token, no WebSocket; the API publishes and lists presence."""
    base = "ws://" + HOST
    for n in NODES:
        try:
            ws = await websockets.connect(f"{base}:{ports[n]}/rooms/{room}", open_timeout=10)
            await ws.close()
            raise CheckFailed(f"{n} let a client without a token in")
        except websockets.InvalidStatusCode as e:
            if e.status_code != 401:
                raise CheckFailed(f"{n}: a client without a token got {e.status_code}, expected 401")
    log("ok: a client without a token gets 401 on every node")
    api_key = compose.run("exec", "-T", "chatd1", "cat", "/auth/api-key", timeout=60).strip()
    auth = {"Authorization": f"Bearer {api_key}"}
    status, _ = http_request(ports["chatd2"], "GET", "/api/rooms", headers={"Authorization": "Bearer wrong"})
    if status != 401:
        raise CheckFailed(f"GET /api/rooms with a wrong key: {status}, expected 401")
    text = f"from-the-api-{time.time_ns()}"
    status, body = http_request(ports["chatd3"], "POST", f"/api/rooms/{room}/messages", text.encode(),
                                {**auth, "Content-Type": "text/plain"})
    if status != 202:
        raise CheckFailed(f"POST /api/rooms/{room}/messages: {status} {body!r}")
    for c in clients.values():
        await c.wait_for(text, lambda rx: text in rx, 10)
    log("ok: a message POSTed to chatd3's API reached the client of every node")
    want = sorted(f"user-{n}" for n in clients)

    def presence(n):
        status, body = http_request(ports[n], "GET", f"/api/rooms/{room}/presence", headers=auth)
        if status != 200:
            return False, (status, body)
        users = sorted(m["user"] for m in json.loads(body).get("members", []))
        return users == want, users

    for n in NODES:
        await wait_until(f"{n}: presence of {room} = {want}", lambda n=n: presence(n), 20)
    log(f"ok: every node's presence of the room lists {', '.join(want)}")


def prom(port, path, params):
    status, body = http_get(port, f"{path}?{urllib.parse.urlencode(params)}" if params else path)
    doc = json.loads(body)
    if status != 200 or doc.get("status") != "success":
        raise OSError(f"prometheus {path}: {status} {body[:200]}")
    return doc["data"]


def prom_targets(port):
    try:
        data = prom(port, "/api/v1/targets", {"state": "active"})
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    return {t["labels"].get("instance"): t["health"] for t in data["activeTargets"]}


def prom_scalar(port, query):
    try:
        res = prom(port, "/api/v1/query", {"query": query})["result"]
    except (OSError, ValueError):
        return None
    if len(res) != 1:
        return None
    return float(res[0]["value"][1])


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compose", required=True, help="compose command, JSON list")
    ap.add_argument("--project", required=True)
    ap.add_argument("--ports", required=True, help="host ports of chatd1,chatd2,chatd3")
    ap.add_argument("--prometheus-port", required=True, type=int)
    ap.add_argument("--timeout", type=float, default=120, help="per wait for startup")
    ap.add_argument("--auth", action="store_true", help="the cluster runs with docker-compose.auth.yml")
    a = ap.parse_args()
    compose = Compose(json.loads(a.compose), a.project)
    ports = dict(zip(NODES, (int(p) for p in a.ports.split(","))))
    pport = a.prometheus_port
    room = f"compose-test-{a.project}"
    clients = {}

    async def wait_healthy(nodes):
        for n in nodes:
            cid = compose.container(n)
            await wait_until(f"{n} healthy",
                             lambda cid=cid: ((s := inspect(cid, "{{.State.Health.Status}}")) == "healthy", s),
                             a.timeout)
        log(f"ok: {', '.join(nodes)} healthy")

    async def wait_peers(nodes, want, timeout):
        for n in nodes:
            await wait_until(f"chat_cluster_peers={want} on {n}",
                             lambda n=n: ((v := metric(ports[n], "chat_cluster_peers")) == want, v),
                             timeout)
        log(f"ok: chat_cluster_peers={want} on {', '.join(nodes)}")

    async def connect(n):
        c = Client(n, ports[n], room)
        await c.connect()
        clients[n] = c
        return c

    try:
        # 1. The cluster is up: healthy means ready (/readyz: linked to every
        # node that is up). At once, a client on each node sends one message,
        # as a new user would right after `up`: every client gets all three.
        await wait_healthy(NODES)
        if a.auth:
            for n in NODES:
                TOKENS[n] = compose.run("exec", "-T", "chatd1", "chatd", "token", "--secret-file", "/auth/jwt-secret",
                                        "--sub", f"user-{n}", "--name", f"User of {n}", timeout=60).strip()
            log("ok: minted a token per node's client with `chatd token` in chatd1")
        for n in NODES:
            status, body = http_get(ports[n], "/readyz")
            if status != 200 or body != "ready\n":
                raise CheckFailed(f"{n} /readyz: {status} {body!r} while healthy")
        firsts = [Client(n, ports[n], f"{room}-first") for n in NODES]
        try:
            await asyncio.gather(*(c.connect() for c in firsts))
            await at_once(firsts, "start")
        finally:
            await asyncio.gather(*(c.close() for c in firsts if hasattr(c, "ws")), return_exceptions=True)
        await wait_peers(NODES, 2, a.timeout)
        # The links are TLS with the certs service's certificates.
        for n in NODES:
            if "cluster links: TLS" not in compose.run("logs", "--no-color", n, timeout=60):
                raise CheckFailed(f"{n} does not say its cluster links are TLS")
        log("ok: cluster links are TLS on every node")
        for n in NODES:
            status, _ = http_get(ports[n], "/healthz")
            if status != 200:
                raise CheckFailed(f"{n} /healthz: {status}")

        # 2. A message from each node reaches the clients on the other two.
        for n in NODES:
            await connect(n)
        log(f"connected one WebSocket client per node to room {room}")
        await exchange(list(clients.values()), "all")
        if a.auth:
            await check_auth_and_api(compose, ports, room, clients)

        # 3. Prometheus scrapes all three and sees our connections.
        want_targets = {f"{n}:9000": "up" for n in NODES}
        await wait_until("3 Prometheus targets up",
                         lambda: ((t := prom_targets(pport)) == want_targets, t), a.timeout, 1)
        log("ok: Prometheus targets chatd1..3 up")
        await wait_until(f"sum(chat_connections) = {len(clients)} in Prometheus",
                         lambda: ((v := prom_scalar(pport, "sum(chat_connections)")) == len(clients), v),
                         60, 1)
        log(f"ok: Prometheus sum(chat_connections) = {len(clients)}")
        await wait_until("min(chat_cluster_peers) = 2 in Prometheus",
                         lambda: ((v := prom_scalar(pport, "min(chat_cluster_peers)")) == 2, v), 60, 1)
        log("ok: Prometheus min(chat_cluster_peers) = 2")

        # 4. Without chatd2, chatd1 and chatd3 carry on.
        cid2 = compose.container("chatd2")
        compose.run("stop", "chatd2", timeout=120)
        code = inspect(cid2, "{{.State.ExitCode}}")
        if code != "0":
            raise CheckFailed(f"chatd2 exited with {code} on stop (SIGTERM), expected 0")
        log("ok: chatd2 stopped, exit status 0")
        await clients["chatd2"].wait_for("close after chatd2 stopped", lambda rx: clients["chatd2"].closed, 30)
        await clients["chatd2"].close()
        del clients["chatd2"]
        await wait_peers(("chatd1", "chatd3"), 1, 30)
        await exchange([clients["chatd1"], clients["chatd3"]], "without-chatd2")
        await wait_until("Prometheus target chatd2 down",
                         lambda: ((t := prom_targets(pport)).get("chatd2:9000") == "down", t), 60, 1)
        log("ok: Prometheus sees chatd2 down")

        # 5. chatd2 comes back and rejoins.
        compose.run("start", "chatd2", timeout=120)
        await wait_healthy(("chatd2",))
        await wait_peers(NODES, 2, 60)
        await connect("chatd2")
        await exchange([clients[n] for n in NODES], "rejoined")
        await wait_until("3 Prometheus targets up again",
                         lambda: ((t := prom_targets(pport)) == want_targets, t), 60, 1)
        await wait_until(f"sum(chat_connections) = {len(clients)} in Prometheus again",
                         lambda: ((v := prom_scalar(pport, "sum(chat_connections)")) == len(clients), v),
                         60, 1)
        log(f"ok: Prometheus targets up, sum(chat_connections) = {len(clients)}")
        return 0
    except (CheckFailed, OSError, subprocess.TimeoutExpired, websockets.WebSocketException) as e:
        log(f"CHECK FAILED: {type(e).__name__}: {e}")
        return 1
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
