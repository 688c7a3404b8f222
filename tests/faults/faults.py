#!/usr/bin/python3
"""Fault tests: a 3-node chatd cluster under steady load survives a killed
node, a paused node and a node cut off from its peers. Two forms:
  --order on   (the default) chatd orders each room (--cluster-order on) and
               the clients speak chatd.v1 and resume after every reconnect:
               every message reaches every client once, in the room's order,
               also those it missed while disconnected or while its node was
               cut off (see recovery.py)
  --order off  no order across nodes: every message a client missed is one
               chatd's counters account for (see accounting.py)

Each node runs in its own network namespace (<tag>-n1..n3, 10.213.0.1..3/24)
linked by veth pairs to a bridge in one more namespace (<tag>-br): nothing is
added to the host's own network, and nothing leaves these namespaces. A
node's clients (one chat-bench, steady workload) run inside its namespace and
reach it on 127.0.0.1:9000, so cutting the node's cluster links (nftables
rules in its namespace dropping TCP to and from port 7000) leaves its
clients connected. Cluster links are mutual TLS, as deployed (certificates
from deploy/make-cluster-certs.sh); --plain makes them plain CAF
(--cluster-bind 0.0.0.0, on the test's private network) instead.

Phases (one chat-bench run per node each, started together; the fault comes
FAULT_AT s into publishing):
  kill   SIGKILL the victim, restart it DOWN_S later with the same flags
  pause  SIGSTOP the victim for PAUSE_S (past CAF's 5 s connection timeout), SIGCONT
  cut    drop the victim's cluster traffic for CUT_S, then remove the rules
After each phase (load drained) every node's /metrics is read and the phase
is accounted for. Presence is checked too: once the cluster has healed, and
while the load still runs, every node's GET /api/rooms/faults/presence counts
exactly the connections the nodes have; once the load has ended, no node
lists the room (no ghosts). Exit status 0 when every phase balances, 1 otherwise.

    faults.py --chatd build/release/app/chatd --bench build/release/bench/chat-bench
    faults.py --tag cft123 [--order on|off] [--plain] [--keep DIR] [--phases kill,pause,cut]
Needs root (network namespaces, nftables); run.sh skips without it.
"""

import argparse
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import accounting  # noqa: E402
import recovery  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NODES = ["n1", "n2", "n3"]
SUBNET = "10.213.0"  # the test's own network; nothing is sent anywhere else
WS_PORT, CLUSTER_PORT = 9000, 7000
ROOM = "faults"  # --order off; with --order on each phase has its own (phase_room)
HISTORY_SIZE = 20000  # --order on: more than a phase publishes, so every resume can be recovered
SUBSCRIBERS, PUBLISHERS, RATE = 4, 2, 50  # per node; msgs/s per publisher
FAULT_AT = 4.0  # s into publishing
DOWN_S, PAUSE_S, CUT_S = 3.0, 8.0, 10.0
AFTER_HEAL_S = accounting.SETTLE_S + accounting.RESUME_S + 2.0  # publishing continues this long after healing
LINK_WAIT_S = 30.0  # a cluster must be fully linked within this
STABLE_S = 3.0  # ... and keep every link this long before a phase starts
PRESENCE_WAIT_S = 8.0  # presence agrees on every node within this once healed
API_KEY = "faults-api-key-0123456789abcdef"
OVERALL_TIMEOUT = int(os.environ.get("CHATD_FAULTS_TIMEOUT", "280"))

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: nothing outlives the driver


def log(msg):
    print(f"[faults {time.monotonic():9.3f}] {msg}", flush=True)


def sh(*cmd, check=True, input=None, timeout=20):
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


class Cluster:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.tag = args.tag
        self.ns = {n: f"{self.tag}-{n}" for n in NODES}
        self.br = f"{self.tag}-br"
        self.procs = {}  # node -> Popen of chatd
        self.stopped = set()
        self.others = []  # other Popen we started (chat-bench)
        self.made_ns = []
        self.certs = None

    # --- network ---------------------------------------------------------
    def setup_network(self):
        for ns in [self.br] + list(self.ns.values()):
            sh("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.br, "link", "set", "br0", "up")
        for i, n in enumerate(NODES, 1):
            sh("ip", "-n", self.br, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns",
               self.ns[n])
            sh("ip", "-n", self.br, "link", "set", f"p{i}", "master", "br0", "up")
            sh("ip", "-n", self.ns[n], "addr", "add", f"{SUBNET}.{i}/24", "dev", "eth0")
            sh("ip", "-n", self.ns[n], "link", "set", "eth0", "up")

    def cut(self, node):
        rules = (f"table inet chatd_faults {{\n"
                 f"  chain in {{ type filter hook input priority 0; policy accept;\n"
                 f"    tcp dport {CLUSTER_PORT} drop\n    tcp sport {CLUSTER_PORT} drop\n  }}\n"
                 f"  chain out {{ type filter hook output priority 0; policy accept;\n"
                 f"    tcp dport {CLUSTER_PORT} drop\n    tcp sport {CLUSTER_PORT} drop\n  }}\n}}\n")
        sh("ip", "netns", "exec", self.ns[node], "nft", "-f", "-", input=rules)

    def heal_cut(self, node):
        sh("ip", "netns", "exec", self.ns[node], "nft", "delete", "table", "inet", "chatd_faults")

    # --- chatd -----------------------------------------------------------
    def make_certs(self):
        if self.args.plain:
            return
        self.certs = self.work / "certs"
        sh(str(ROOT / "deploy" / "make-cluster-certs.sh"), str(self.certs), *NODES, timeout=60)

    def start(self, node):
        i = NODES.index(node) + 1
        peers = ",".join(f"{SUBNET}.{k}:{CLUSTER_PORT}" for k in range(1, len(NODES) + 1))
        key = self.work / "api.key"
        if not key.exists():
            key.write_text(API_KEY + "\n")
        cmd = ["ip", "netns", "exec", self.ns[node], str(self.args.chatd), "--bind", "0.0.0.0", "--port",
               str(WS_PORT), "--threads", "1", "--cluster-port", str(CLUSTER_PORT), "--peers", peers, "--node-id",
               node, "--tick", "1s", "--max-handshakes-per-second", "0", "--api-key-file", str(key)]
        if self.args.order == "on":
            cmd += ["--cluster-order", "on", "--history-size", str(HISTORY_SIZE)]
        else:
            # The accounting counts each message on the link from its sender's node to each other
            # node: the direct path. With one ordering node per room a message reaches the others
            # through that node instead (README "Order across nodes").
            cmd += ["--cluster-order", "off"]
        if self.certs:
            cmd += ["--cluster-cert", str(self.certs / f"{node}.pem"), "--cluster-key",
                    str(self.certs / f"{node}.key"), "--cluster-ca", str(self.certs / "ca.pem")]
        else:
            cmd += ["--cluster-bind", "0.0.0.0"]
        out = open(self.work / f"chatd-{node}.log", "a")
        out.write(f"==== start {time.monotonic():.3f} (node {node}, {SUBNET}.{i})\n")
        out.flush()
        # `ip netns exec` execs chatd: the pid is chatd's own
        self.procs[node] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=_die_with_parent)
        out.close()

    def signal(self, node, sig):
        self.procs[node].send_signal(sig)
        if sig == signal.SIGSTOP:
            self.stopped.add(node)
        elif sig == signal.SIGCONT:
            self.stopped.discard(node)

    def kill(self, node):
        p = self.procs[node]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def scrape(self, node, timeout=3):
        r = sh("ip", "netns", "exec", self.ns[node], "curl", "-sS", "--noproxy", "*", "--max-time", str(timeout),
               f"http://127.0.0.1:{WS_PORT}/metrics", check=False, timeout=timeout + 5)
        if r.returncode != 0:
            return None
        return accounting.parse_metrics(r.stdout)

    def api(self, node, path, timeout=2):
        """GET `path` of node's server API: the parsed JSON, or None."""
        r = sh("ip", "netns", "exec", self.ns[node], "curl", "-sS", "--fail", "--noproxy", "*", "--max-time",
               str(timeout), "-H", f"Authorization: Bearer {API_KEY}", f"http://127.0.0.1:{WS_PORT}{path}",
               check=False, timeout=timeout + 5)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def presence_agrees(self, room, timeout):
        """Until every node's presence of the room counts every connection of every node (the only room's).
        None when it did, else what the nodes said last."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            live = [self.scrape(n, timeout=1) for n in NODES]
            views = {n: self.api(n, f"/api/rooms/{room}/presence") for n in NODES}
            if all(m is not None for m in live) and all(v is not None for v in views.values()):
                want = sum(accounting.metric(m, "chat_connections") for m in live)
                got = {n: v["anonymous"] + sum(u["connections"] for u in v["members"]) for n, v in views.items()}
                if all(g == want for g in got.values()) and not any(v["members"] for v in views.values()):
                    return None
                last = f"connections on the nodes {want:.0f}, presence says {got}"
            time.sleep(0.2)
        return last or "presence or /metrics unreadable"

    def no_ghosts(self, timeout):
        """Once every client is gone: until no node lists any room. None when so, else what they listed."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rooms = {n: self.api(n, "/api/rooms") for n in NODES}
            if all(r == [] for r in rooms.values()):
                return None
            last = rooms
            time.sleep(0.2)
        return f"rooms listed after every client left: {last}"

    def peers(self, node):
        m = self.scrape(node, timeout=1)
        return None if m is None else accounting.metric(m, "chat_cluster_peers")

    def wait_peers(self, nodes, want, timeout):
        """Until every node in `nodes` reports chat_cluster_peers == want; the time it happened, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.peers(n) == want for n in nodes):
                return time.monotonic_ns()
            time.sleep(0.1)
        return None

    def lost_lines(self):
        n = 0
        for node in NODES:
            try:
                n += (self.work / f"chatd-{node}.log").read_text(errors="replace").count("cluster: lost peer")
            except OSError:
                pass
        return n

    def wait_stable(self, timeout, quiet=STABLE_S):
        """Until every node has all peers and no link was lost for `quiet` s; False on timeout."""
        deadline = time.monotonic() + timeout
        since, lost = None, self.lost_lines()
        while time.monotonic() < deadline:
            now_lost = self.lost_lines()
            if all(self.peers(n) == len(NODES) - 1 for n in NODES) and now_lost == lost:
                since = since or time.monotonic()
                if time.monotonic() - since >= quiet:
                    return True
            else:
                since, lost = None, now_lost
            time.sleep(0.2)
        return False

    def wait_listening(self, node, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scrape(node, timeout=1) is not None:
                return True
            time.sleep(0.1)
        return False

    # --- load ------------------------------------------------------------
    def start_bench(self, node, duration, phase, room):
        base = (NODES.index(node) + 1) * 1000
        out = self.work / f"{phase}-{node}.json"
        cmd = ["ip", "netns", "exec", self.ns[node], str(self.args.bench), "--workload", "steady", "--url",
               f"ws://127.0.0.1:{WS_PORT}/rooms/{room}", "--clients", str(SUBSCRIBERS), "--publishers",
               str(PUBLISHERS), "--rate", str(RATE), "--duration", f"{duration:.1f}", "--drain", "8",
               "--connect-timeout", "15", "--pub-id-base", str(base), "--label", f"{phase}-{node}", "--sync-stdin",
               "--json", str(out)]
        if self.args.order == "on":
            cmd.append("--v1")
        err = open(self.work / f"{phase}-{node}.bench.log", "w")
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                             preexec_fn=_die_with_parent)
        err.close()
        self.others.append(p)
        return p, out

    # --- teardown --------------------------------------------------------
    def cleanup(self):
        for node in list(self.stopped):
            try:
                self.signal(node, signal.SIGCONT)
            except Exception:
                pass
        for p in list(self.procs.values()) + self.others:
            if p.poll() is None:
                p.terminate()
        for p in list(self.procs.values()) + self.others:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for ns in reversed(self.made_ns):
            sh("ip", "netns", "del", ns, check=False)
        self.made_ns.clear()


def read_line(p, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            return p.stdout.readline()
        if p.poll() is not None:
            return ""
    return ""


def _rendezvous(room, node):
    """net::ordering_node's hash (net/room_history.cpp): FNV-1a over room, 0xff, node; splitmix64's finalizer."""
    mask, prime = (1 << 64) - 1, 1099511628211
    h = 14695981039346656037
    for b in room.encode() + b"\xff" + node.encode():
        h = ((h ^ b) * prime) & mask
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & mask
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


def ordering_node(room, nodes):
    """The node that orders `room` when `nodes` are up: highest hash, ties to the smaller id."""
    return max(sorted(nodes), key=lambda n: _rendezvous(room, n))


def phase_room(kind, victim):
    """--order on: a room of its own for the phase, ordered by another node than the victim (a room
    whose ordering node is the victim starts a new epoch when it goes: nothing to recover, by design)."""
    k = 0
    while victim is not None and ordering_node(f"faults-{kind}-{k}", NODES) == victim:
        k += 1
    room = f"faults-{kind}-{k}"
    return room, ordering_node(room, NODES)


def run_phase(cl, kind, victim):
    room, orderer = phase_room(kind, victim) if cl.args.order == "on" else (ROOM, None)
    log(f"phase {kind}: victim {victim}, room {room}" + (f" (ordered by {orderer})" if orderer else ""))
    res = {"kind": kind, "victim": victim, "nodes": NODES, "room": room, "orderer": orderer, "t": {}, "errors": [],
           "presence_errors": []}
    if not cl.wait_stable(LINK_WAIT_S):
        res["errors"].append(f"the cluster did not stay fully linked for {STABLE_S:.0f} s before the phase")
        return res
    fault_len = {"kill": DOWN_S, "pause": PAUSE_S, "cut": CUT_S, "none": 0.0}[kind]
    duration = FAULT_AT + fault_len + AFTER_HEAL_S
    res["before"] = {n: cl.scrape(n) for n in NODES}
    benches = {n: cl.start_bench(n, duration, kind, room) for n in NODES}
    for n, (p, _) in benches.items():
        line = read_line(p, 20)
        if not line.startswith("ready "):
            res["errors"].append(f"{n}: chat-bench did not get ready ({line.strip()!r})")
    if res["errors"]:
        for p, _ in benches.values():
            p.kill()
        return res
    t0 = time.monotonic_ns() + 300_000_000
    for p, _ in benches.values():
        p.stdin.write(f"go {t0}\n")
        p.stdin.flush()
    res["t"]["t0"] = t0
    res["t"]["end"] = t0 + int(duration * 1e9)
    survivors = [n for n in NODES if n != victim]
    time.sleep(max(0.0, (t0 - time.monotonic_ns()) / 1e9 + FAULT_AT))
    res["t"]["fault"] = time.monotonic_ns()
    if kind == "kill":
        cl.kill(victim)
        log(f"killed {victim}")
        # survivors see the link close at once; from then on they send it nothing
        if cl.wait_peers(survivors, len(NODES) - 2, 10) is None:
            res["errors"].append("survivors did not notice the killed node")
        res["mid"] = {n: cl.scrape(n) for n in survivors}
        if any(m is None for m in res["mid"].values()):
            res["errors"].append("survivors' /metrics unreadable while the killed node was down")
        time.sleep(max(0.0, res["t"]["fault"] / 1e9 + DOWN_S - time.monotonic()))
        res["t"]["heal"] = time.monotonic_ns()
        cl.start(victim)
        log(f"restarted {victim}")
    elif kind == "pause":
        cl.signal(victim, signal.SIGSTOP)
        log(f"paused {victim}")
        if cl.wait_peers(survivors, len(NODES) - 2, PAUSE_S) is None:
            res["errors"].append(f"survivors did not drop the paused node within {PAUSE_S:.0f} s")
        time.sleep(max(0.0, res["t"]["fault"] / 1e9 + PAUSE_S - time.monotonic()))
        res["t"]["heal"] = time.monotonic_ns()
        cl.signal(victim, signal.SIGCONT)
        log(f"resumed {victim}")
    elif kind == "cut":
        cl.cut(victim)
        log(f"cut {victim} off from its peers")
        if cl.wait_peers(survivors, len(NODES) - 2, CUT_S) is None:
            res["errors"].append(f"survivors did not drop the cut-off node within {CUT_S:.0f} s")
        time.sleep(max(0.0, res["t"]["fault"] / 1e9 + CUT_S - time.monotonic()))
        res["t"]["heal"] = time.monotonic_ns()
        cl.heal_cut(victim)
        log(f"healed the cut of {victim}")
    else:
        res["t"]["heal"] = res["t"]["fault"]
    res["t"]["linked"] = cl.wait_peers(NODES, len(NODES) - 1, accounting.SETTLE_S)
    if res["t"]["linked"] is None:
        res["errors"].append(f"the cluster was not fully linked {accounting.SETTLE_S:.0f} s after healing")
    else:
        log(f"cluster linked again {(res['t']['linked'] - res['t']['heal']) / 1e9:.2f} s after healing")
    if res["t"]["linked"] is not None:
        # Still publishing: every subscriber is back (or never left).
        left = (res["t"]["end"] - time.monotonic_ns()) / 1e9 - 1.0
        problem = cl.presence_agrees(room, min(PRESENCE_WAIT_S, max(left, 1.0)))
        if problem:
            res["presence_errors"].append(f"presence after healing: {problem}")
        else:
            log("presence agrees on every node")
    res["reports"], res["bench_rc"] = {}, {}
    for n, (p, out) in benches.items():
        try:
            res["bench_rc"][n] = p.wait(timeout=duration + 40)
        except subprocess.TimeoutExpired:
            p.kill()
            res["errors"].append(f"{n}: chat-bench did not finish")
            continue
        try:
            res["reports"][n] = json.loads(out.read_text())
        except (OSError, ValueError) as e:
            res["errors"].append(f"{n}: no chat-bench report: {e}")
    res["after"] = {n: cl.scrape(n) for n in NODES}
    ghosts = cl.no_ghosts(10.0)
    if ghosts:
        res["presence_errors"].append(f"presence: {ghosts}")
    for key in ("before", "after"):
        for n in NODES:
            if res[key][n] is None:
                res["errors"].append(f"{n}: /metrics unreadable ({key})")
    return res


def fmt_row(cols, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cols, widths))


def report_phase(res):
    """Prints the per-pair table; returns the list of failures."""
    fails = list(res["errors"])
    if fails:
        return fails + res["presence_errors"]
    if res["orderer"] is not None:
        summary, node_rows, rec_fails = recovery.analyze_phase(res)
        print(recovery.format_phase(res, summary, node_rows))
        res["summary"], res["node_rows"] = summary, node_rows
        return fails + rec_fails + res["presence_errors"]
    rows, node_rows, acc_fails = accounting.analyze_phase(res)
    fails += acc_fails + res["presence_errors"]
    t = res["t"]
    linked = (t["linked"] - t["heal"]) / 1e9 if t.get("linked") else float("nan")
    print(f"\n== phase {res['kind']} (victim {res['victim']}): fault at {(t['fault'] - t['t0']) / 1e9:.1f} s, "
          f"healed at {(t['heal'] - t['t0']) / 1e9:.1f} s, cluster linked {linked:.1f} s later, "
          f"publishing {(t['end'] - t['t0']) / 1e9:.0f} s")
    for nr in node_rows:
        read = nr.get("read", nr.get("read_by_new_process"))
        print(f"   {nr['node']}: publishers sent {nr['sent']} (skipped while disconnected {nr['skipped']}), "
              f"chatd read {read:.0f}{' (restarted process)' if 'read_by_new_process' in nr else ''}, "
              f"client reconnects {nr['reconnects']}")
    head = ["pair", "sent", "reached", "missed", "sub-miss", "offline", "peer_down", "unrouted", "link_lost",
            "in_kill", "no_sub", "accounted", "untraced", "ok"]
    widths = [8, 6, 7, 6, 8, 7, 9, 8, 9, 7, 6, 9, 8, 3]
    print(fmt_row(head, widths))
    for r in rows:
        accounted = r["drop"] + r["unrouted"] + r["link_lost"] + r["lost_in_kill"] + r["no_subscriber"]
        print(fmt_row([f"{r['from']}->{r['to']}", r["sent"], r["reached"], r["unreached"], r["sub_missed"],
                       r["sub_missed_offline"], f"{r['drop']:.0f}", f"{r['unrouted']:.0f}", f"{r['link_lost']:.0f}",
                       f"{r['lost_in_kill']:.0f}", f"{r['no_subscriber']:.0f}", f"{accounted:.0f}",
                       f"{r['untraced']:.0f}", "yes" if r.get("accounted") else "NO"], widths))
    tot = {k: sum(r[k] for r in rows) for k in ("unreached", "sub_missed", "sub_missed_offline", "drop", "unrouted",
                                                "link_lost", "lost_in_kill", "no_subscriber", "untraced")}
    print(f"   total: {tot['unreached']} messages missed by a node (subscriber misses {tot['sub_missed']}, "
          f"{tot['sub_missed_offline']} of them while the subscriber was reconnecting); accounted by peer_down "
          f"{tot['drop']:.0f} + not routed to a node without members {tot['unrouted']:.0f} + link sent-received {tot['link_lost']:.0f} + lost in the killed process "
          f"{tot['lost_in_kill']:.0f} + no subscriber connected {tot['no_subscriber']:.0f}; untraced "
          f"{tot['untraced']:.0f}")
    res["rows"], res["node_rows"] = rows, node_rows
    return fails


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chatd", type=Path, default=ROOT / "build/release/app/chatd")
    ap.add_argument("--bench", type=Path, default=ROOT / "build/release/bench/chat-bench")
    ap.add_argument("--tag", default=f"cft{os.getpid()}", help="prefix of the namespaces made here")
    ap.add_argument("--plain", action="store_true",
                    help="plain cluster links (--cluster-bind 0.0.0.0) instead of mutual TLS")
    ap.add_argument("--phases", default="kill,pause,cut")
    ap.add_argument("--order", choices=("on", "off"), default="on",
                    help="on: ordered rooms, chatd.v1 clients that resume (recovery.py); off: accounting.py")
    ap.add_argument("--keep", type=Path, help="keep logs, reports and a summary in this directory")
    args = ap.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    victims = {"kill": "n3", "pause": "n2", "cut": "n1", "none": None}
    if any(p not in victims for p in phases):
        ap.error(f"phases are {', '.join(victims)}")
    for b in (args.chatd, args.bench):
        if not os.access(b, os.X_OK):
            print(f"faults: {b} is not an executable (build first: ninja -C build/release)", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="chatd-faults-"))
    cl = Cluster(args, work)

    def on_signal(signo, _frame):
        raise SystemExit(f"faults: signal {signo}")

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("overall timeout")))
    signal.alarm(OVERALL_TIMEOUT)
    started = time.monotonic()
    failures, results = {}, []
    try:
        cl.make_certs()
        cl.setup_network()
        for n in NODES:
            cl.start(n)
        for n in NODES:
            if not cl.wait_listening(n):
                raise RuntimeError(f"{n} did not start (see chatd-{n}.log)")
        log(f"3 nodes up ({'plain' if args.plain else 'TLS'} cluster links, --cluster-order {args.order})")
        for kind in phases:
            res = run_phase(cl, kind, victims[kind])
            results.append(res)
            failures[kind] = report_phase(res)
    except (Exception, SystemExit) as e:
        failures.setdefault("driver", []).append(f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        cl.cleanup()
    elapsed = time.monotonic() - started
    bad = {k: v for k, v in failures.items() if v}
    if bad or args.keep:
        keep = args.keep or ROOT / "build" / f"faults-artifacts-order-{args.order}"
        keep.mkdir(parents=True, exist_ok=True)
        for f in work.iterdir():
            if f.is_file():
                shutil.copy(f, keep / f.name)
        summary = [{k: v for k, v in r.items() if k not in ("reports",)} for r in results]
        (keep / "summary.json").write_text(json.dumps({"failures": failures, "phases": summary}, indent=1))
        print(f"faults: logs, reports and summary.json in {keep}")
    shutil.rmtree(work, ignore_errors=True)
    print()
    for k, v in bad.items():
        for msg in v[:20]:
            print(f"FAIL [{k}] {msg}")
        if len(v) > 20:
            print(f"FAIL [{k}] ... and {len(v) - 20} more")
    print(f"faults: {'FAIL' if bad else 'PASS'} ({', '.join(phases)}, --order {args.order}) in {elapsed:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
