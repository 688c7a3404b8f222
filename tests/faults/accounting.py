"""Accounting for one fault phase: which messages each subscriber missed, and
whether chatd's counters explain every one of them.

Input (one phase, see faults.py): what every node's chat-bench (steady
workload) sent and received, chatd's /metrics on every node before the phase
and after it (all load drained, so counters are final), for a kill also the
survivors' metrics while the victim was down, and the fault's times (steady
clock ns, which is CLOCK_MONOTONIC in every process and namespace).

For every ordered pair of nodes A -> B, with M the messages A's publishers
sent in the phase:

- reached: messages some subscriber on B received; unreached: the others.
- A subscriber that was connected around a message's send time (from 1 s
  before to 0.5 s after) and missed it, while another subscriber of B got
  it, is an inconsistency: a message reaches a node or it does not.
- Counters (deltas over the phase): every message A read from its clients
  went to B, was dropped for B, or was not routed to B because B had no
  members of the room (interest routing): received_total(A) =
  link_sent(A->B) + peer_down(A,B) + unrouted(A,B), and M = received_total(A)
  (chatd read all that was sent). What reached B is what B's cluster actor
  got: link_received(B<-A) = reached. So unreached = peer_down(A,B) +
  unrouted(A,B) + link_sent(A->B) - link_received(B<-A): messages dropped
  while B was not linked, not routed while B had no members, plus those on
  a link when it died. An unrouted message must have been sent while none
  of B's subscribers was connected.
- A killed node's counters die with it. For pairs with the killed node K,
  the phase is split at the kill with the survivors' counters taken while K
  was down (they do not move then: no link to K). Old K: what survivors got
  from it is exact (link_received before the kill); what old K's clients and
  survivors lost in it (sent on a socket or link to K that the kill cut) is
  "lost_in_kill", and must have been sent within the fault window. New K: its
  counters start at 0 and balance like any node's; messages it published
  before it first linked to a peer are counted nowhere by chatd, reported as
  "untraced" and failed. Messages that reached new K while none of its
  subscribers had reconnected yet count as "no_subscriber".
- Every missed message was sent within [fault - 1 s, heal + 10 s];
  messages sent in the last 3 s of the phase reached every subscriber; the
  nodes not hit by the fault miss nothing from each other or themselves.
"""

import bisect

LEAD_S = 1.0  # messages in flight when the fault hits were sent this much before it, at most
SETTLE_S = 10.0  # after healing, links come back within this (redial backoff <= 5 s, jittered)
ONLINE_BEFORE_S = 1.0  # a subscriber must be connected this long before a message was sent...
ONLINE_AFTER_S = 0.5  # ...and this long after it, to be expected to receive it
RESUME_S = 3.0  # messages sent in the last seconds of a phase must reach everyone
NS = 1_000_000_000


def canon(labels):
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def metric(m, name, **labels):
    return m.get(name, {}).get(canon(labels), 0.0)


def parse_metrics(text):
    """Prometheus text exposition -> {name: {"k=v,...": value}}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, labels = head, {}
        if "{" in head:
            name, rest = head.split("{", 1)
            for part in rest.rstrip("}").split(","):
                if "=" in part:
                    k, v = part.split("=", 1)
                    labels[k] = v.strip('"')
        try:
            out.setdefault(name, {})[canon(labels)] = float(value)
        except ValueError:
            pass
    return out


class Pub:
    def __init__(self, rep, t0):
        self.id = int(rep["id"])
        self.send = [t0 + us * 1000 for us in rep["send_us"]]
        self.epoch_first = [e[0] for e in rep["epochs"]]
        self.epoch_of = [e[1] for e in rep["epochs"]]

    def epoch(self, seq):
        i = bisect.bisect_right(self.epoch_first, seq) - 1
        return self.epoch_of[i] if i >= 0 else -1


class Sub:
    def __init__(self, rep, t0):
        self.index = rep["index"]
        self.intervals = [(t0 + a * 1000, t0 + b * 1000) for a, b in rep["intervals"]]
        self.got = {}
        for pid, ranges in rep["received"].items():
            s = set()
            for a, b in ranges:
                s.update(range(a, b + 1))
            self.got[int(pid)] = s

    def has(self, pid, seq):
        return seq in self.got.get(pid, ())

    def online(self, t):
        lo, hi = t - int(ONLINE_BEFORE_S * NS), t + int(ONLINE_AFTER_S * NS)
        return any(a <= lo and hi <= b for a, b in self.intervals)

    def offline_intervals(self, t0, t_stop):
        """Gaps between connections within [t0, t_stop]."""
        gaps, prev = [], None
        for a, b in sorted(self.intervals):
            if prev is not None and a > prev:
                gaps.append((prev, a))
            prev = b if prev is None else max(prev, b)
        if prev is not None and prev < t_stop - int(ONLINE_AFTER_S * NS):
            gaps.append((prev, t_stop))
        return [(a, b) for a, b in gaps if b > t0]


def analyze_phase(ph):
    """Returns (rows, node_rows, failures): one row per ordered node pair, one per node, and what did not add up."""
    nodes = ph["nodes"]
    kind, victim = ph["kind"], ph.get("victim")
    t = ph["t"]
    t0 = t["t0"]
    reps = ph["reports"]
    before, after, mid = ph["before"], ph["after"], ph.get("mid")
    killed = kind == "kill"
    fails = []

    def fail(msg):
        fails.append(msg)

    win_lo = t["fault"] - int(LEAD_S * NS)
    win_hi = t["heal"] + int(SETTLE_S * NS)
    t_end = t["end"]
    resume_from = t_end - int(RESUME_S * NS)
    if resume_from <= win_hi:
        fail(f"phase too short: the last {RESUME_S:.0f} s start before heal + settle")

    pubs = {n: [Pub(p, t0) for p in reps[n]["publishers"]] for n in nodes}
    subs = {n: [Sub(s, t0) for s in reps[n]["subscribers"]] for n in nodes}
    stop = {n: t0 + reps[n]["stop_us"] * 1000 for n in nodes}

    for n in nodes:
        r = reps[n]
        for key in ("duplicates", "out_of_order", "bad_payloads"):
            if r.get(key, 0):
                fail(f"{n}: chat-bench saw {r[key]} {key.replace('_', ' ')}")
        if r.get("connect_failed"):
            fail(f"{n}: not every chat-bench client connected at the start")
        if ph.get("bench_rc", {}).get(n, 0) != 0:
            fail(f"{n}: chat-bench exited with {ph['bench_rc'][n]}")
        if not subs[n] or not pubs[n]:
            fail(f"{n}: needs subscribers and publishers")
        # clients may be offline only in a kill, only the victim's, only within the window
        for s in subs[n]:
            for a, b in s.offline_intervals(t0, stop[n]):
                if not (killed and n == victim):
                    fail(f"{n}: subscriber {s.index} was disconnected {(a - t0) / NS:.2f}..{(b - t0) / NS:.2f} s")
                elif a < win_lo or b > win_hi:
                    fail(f"{n}: subscriber {s.index} offline {(a - t0) / NS:.2f}..{(b - t0) / NS:.2f} s, "
                         "outside the fault window")

    def delta(m_after, m_before, name, **labels):
        return metric(m_after, name, **labels) - (metric(m_before, name, **labels) if m_before is not None else 0.0)

    # Per node: what its publishers sent vs what chatd read from clients.
    node_rows = []
    for n in nodes:
        sent = sum(len(p.send) for p in pubs[n])
        row = {"node": n, "sent": sent, "skipped": reps[n].get("skipped", 0),
               "reconnects": reps[n].get("reconnects", 0)}
        if killed and n == victim:
            new = [(p, s) for p in pubs[n] for s in range(len(p.send)) if p.epoch(s) >= 1]
            row["read_by_new_process"] = metric(after[n], "chat_messages_received_total")
            if row["read_by_new_process"] != len(new):
                fail(f"{n}: the restarted node read {row['read_by_new_process']:.0f} messages from its clients, "
                     f"its publishers sent {len(new)} after reconnecting")
        else:
            row["read"] = delta(after[n], before[n], "chat_messages_received_total")
            if row["read"] != sent:
                fail(f"{n}: chatd read {row['read']:.0f} messages from clients, its publishers sent {sent}")
        node_rows.append(row)

    rows = []
    for a in nodes:
        for b in nodes:
            rows.append(_pair(a, b, ph, pubs, subs, before, mid, after, delta, win_lo, win_hi, resume_from, fail))
    return rows, node_rows, fails


def _pair(a, b, ph, pubs, subs, before, mid, after, delta, win_lo, win_hi, resume_from, fail):
    kind, victim, t = ph["kind"], ph.get("victim"), ph["t"]
    t0 = t["t0"]
    killed = kind == "kill"
    msgs = [(p.id, s, p.send[s], p.epoch(s)) for p in pubs[a] for s in range(len(p.send))]
    bsubs = subs[b]
    row = {"from": a, "to": b, "sent": len(msgs), "reached": 0, "unreached": 0, "all_offline": 0,
           "sub_missed": 0, "sub_missed_offline": 0, "drop": 0, "link_lost": 0, "lost_in_kill": 0,
           "no_subscriber": 0, "unrouted": 0, "untraced": 0, "outside_window": 0}
    unreached, reached_set = [], set()
    for pid, seq, ts, ep in msgs:
        got = [s.has(pid, seq) for s in bsubs]
        on = [s.online(ts) for s in bsubs]
        if any(got):
            reached_set.add((pid, seq))
            for s, g, o in zip(bsubs, got, on):
                if not g:
                    row["sub_missed"] += 1
                    if o:
                        fail(f"{a}->{b}: subscriber {s.index} was connected but missed {pid}#{seq} "
                             f"(sent {(ts - t0) / NS:.3f} s) that others on {b} got")
                    else:
                        row["sub_missed_offline"] += 1
        else:
            unreached.append((pid, seq, ts, ep))
            row["sub_missed"] += len(bsubs)
            row["sub_missed_offline"] += sum(1 for o in on if not o)
            if not any(on):
                row["all_offline"] += 1
        if not all(got) and not (win_lo <= ts <= win_hi):
            row["outside_window"] += 1
        if not all(got) and ts >= resume_from:
            fail(f"{a}->{b}: {pid}#{seq} sent {(ts - t0) / NS:.3f} s, after healing, did not reach every "
                 f"subscriber of {b}")
    row["reached"] = len(reached_set)
    row["unreached"] = len(unreached)
    if row["outside_window"]:
        fail(f"{a}->{b}: {row['outside_window']} missed message(s) sent outside the fault window "
             f"[{(win_lo - t0) / NS:.2f}, {(win_hi - t0) / NS:.2f}] s")
    unaffected = kind == "none" or (a != victim and b != victim)
    if (unaffected or a == b) and row["sub_missed"] - (row["sub_missed_offline"] if killed and b == victim else 0):
        fail(f"{a}->{b}: {row['sub_missed']} messages missed on a path the fault did not touch")
    if a == b:
        # local delivery: only what was sent while all of the node's subscribers were away
        row["no_subscriber"] = row["all_offline"]
        row["untraced"] = row["unreached"] - row["all_offline"]
        row["accounted"] = row["untraced"] == 0 and not row["outside_window"]
        if row["untraced"]:
            fail(f"{a}->{b}: {row['untraced']} local messages reached no subscriber")
        return row

    name_sent, name_recv = "chat_cluster_link_messages_sent_total", "chat_cluster_link_messages_received_total"
    name_drop = "chat_cluster_messages_dropped_total"
    name_unrouted = "chat_cluster_messages_unrouted_total"
    # Unreached messages sent while no subscriber of b was connected: all
    # that "b had no members" (unrouted, or reached a b without subscribers) may explain.
    unreached_nosub = sum(1 for pid, seq, ts, ep in unreached if not any(s.online(ts) for s in subs[b]))

    def check_unrouted(unrouted, also=0.0):
        if unrouted + also > unreached_nosub:
            fail(f"{a}->{b}: {a} routed {unrouted:.0f} messages away from {b} as if it had no members, but only "
                 f"{unreached_nosub - also:.0f} were sent while none of {b}'s subscribers was connected")

    if not killed or (a != victim and b != victim):
        # Neither end restarted: the counters over the phase explain everything.
        sent = delta(after[a], before[a], name_sent, peer=b)
        drop = delta(after[a], before[a], name_drop, peer=b, reason="peer_down")
        unrouted = delta(after[a], before[a], name_unrouted, peer=b)
        recv = delta(after[b], before[b], name_recv, peer=a)
        read = delta(after[a], before[a], "chat_messages_received_total")
        row.update(drop=drop, link_lost=sent - recv, unrouted=unrouted)
        if sent + drop + unrouted != read:
            fail(f"{a}->{b}: {a} read {read:.0f} messages but sent {sent:.0f} + dropped {drop:.0f} + unrouted "
                 f"{unrouted:.0f} for {b}")
        if recv != row["reached"]:
            fail(f"{a}->{b}: {b} received {recv:.0f} on the link, its subscribers got {row['reached']}")
        check_unrouted(unrouted)
        explained = drop + unrouted + (sent - recv)
        row["untraced"] = row["unreached"] - explained
        if row["untraced"]:
            fail(f"{a}->{b}: {row['unreached']} messages reached no subscriber of {b}, counters explain "
                 f"{explained:.0f} (peer_down {drop:.0f} + unrouted {unrouted:.0f} + link sent {sent:.0f} - received "
                 f"{recv:.0f})")
        row["accounted"] = row["untraced"] == 0 and not row["outside_window"]
        return row

    t_restart = t["heal"]
    if b == victim:
        # A survivor -> the killed node. A's counters span both lives of K;
        # A sends nothing to K while it is down, so the mid scrape splits them.
        sent_old = delta(mid[a], before[a], name_sent, peer=b)
        sent_new = delta(after[a], mid[a], name_sent, peer=b)
        drop = delta(after[a], before[a], name_drop, peer=b, reason="peer_down")
        unrouted = delta(after[a], before[a], name_unrouted, peer=b)
        read = delta(after[a], before[a], "chat_messages_received_total")
        recv_new = metric(after[b], name_recv, peer=a)
        reached_old = sum(1 for pid, seq in reached_set if _send_time(pubs[a], pid, seq) < t_restart)
        reached_new = row["reached"] - reached_old
        lost_in_kill = sent_old - reached_old
        no_sub_new = recv_new - reached_new
        row.update(drop=drop, link_lost=sent_new - recv_new, lost_in_kill=lost_in_kill, no_subscriber=no_sub_new,
                   unrouted=unrouted)
        if sent_old + sent_new + drop + unrouted != read:
            fail(f"{a}->{b}: {a} read {read:.0f} messages but sent {sent_old + sent_new:.0f} + dropped "
                 f"{drop:.0f} + unrouted {unrouted:.0f} for {b}")
        if lost_in_kill < 0 or reached_new > recv_new:
            fail(f"{a}->{b}: {b}'s subscribers got more than {a} sent it (old life: {reached_old} of "
                 f"{sent_old:.0f}; new life: {reached_new} of {recv_new:.0f} received)")
        unreached_new_nosub = sum(1 for pid, seq, ts, ep in unreached
                                  if ts >= t_restart and not any(s.online(ts) for s in subs[b]))
        # (messages that reached the new K before any of its subscribers was back)
        if no_sub_new > unreached_new_nosub:
            fail(f"{a}->{b}: the restarted {b} received {no_sub_new:.0f} messages none of its subscribers got, "
                 f"but only {unreached_new_nosub} were sent while none was connected")
        check_unrouted(unrouted, no_sub_new)
        explained = drop + unrouted + lost_in_kill + (sent_new - recv_new) + no_sub_new
        row["untraced"] = row["unreached"] - explained
        if row["untraced"]:
            fail(f"{a}->{b}: {row['unreached']} unreached, explained {explained:.0f}")
        row["accounted"] = row["untraced"] == 0 and not row["outside_window"]
        return row

    # The killed node -> a survivor. Old life: what B received on the link
    # before the kill is exact; the rest of old K's messages died with it.
    # New life: K's fresh counters.
    recv_old = delta(mid[b], before[b], name_recv, peer=a)
    recv_new = delta(after[b], mid[b], name_recv, peer=a)
    old = [(pid, seq) for pid, seq, ts, ep in msgs if ep == 0]
    new = [(pid, seq) for pid, seq, ts, ep in msgs if ep >= 1]
    reached_old = sum(1 for m in old if m in reached_set)
    reached_new = sum(1 for m in new if m in reached_set)
    sent_new = metric(after[a], name_sent, peer=b)
    drop_new = metric(after[a], name_drop, peer=b, reason="peer_down")
    unrouted_new = metric(after[a], name_unrouted, peer=b)
    read_new = metric(after[a], "chat_messages_received_total")
    if recv_old != reached_old:
        fail(f"{a}->{b}: before the kill {b} received {recv_old:.0f} from {a}, its subscribers got {reached_old}")
    if recv_new != reached_new:
        fail(f"{a}->{b}: after the restart {b} received {recv_new:.0f} from {a}, its subscribers got {reached_new}")
    lost_in_kill = len(old) - reached_old
    untraced = read_new - sent_new - drop_new - unrouted_new  # published by the new K before it knew b
    row.update(drop=drop_new, link_lost=sent_new - recv_new, lost_in_kill=lost_in_kill, untraced=untraced,
               unrouted=unrouted_new)
    check_unrouted(unrouted_new)
    if untraced:
        fail(f"{a}->{b}: the restarted {a} read {read_new:.0f} messages but sent {sent_new:.0f} and dropped "
             f"{drop_new:.0f} for {b}: {untraced:.0f} lost without a counter")
    explained = drop_new + unrouted_new + (sent_new - recv_new) + lost_in_kill + untraced
    if row["unreached"] != explained:
        fail(f"{a}->{b}: {row['unreached']} unreached, explained {explained:.0f}")
    row["accounted"] = untraced == 0 and row["unreached"] == explained and not row["outside_window"]
    return row


def _send_time(node_pubs, pid, seq):
    for p in node_pubs:
        if p.id == pid:
            return p.send[seq]
    raise KeyError(pid)
