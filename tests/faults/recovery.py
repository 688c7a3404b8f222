"""Recovery checks for one fault phase with ordered rooms (chatd
--cluster-order on, chat-bench --v1): every client of the room ends the
phase with the same sequence of one epoch, and whatever a client missed
while its node was away from the room's ordering node came back to it in a
resume or a repair that chatd counted.

Input (one phase, see faults.py): every node's chat-bench report (steady
workload, chatd.v1: each subscriber's receipts with their place, epoch and
offset, its connections and the `resumed` frames it got), chatd's /metrics
on every node before and after the phase, the fault's times (steady clock
ns) and the room's ordering node, never the victim.

- One order. Across all subscribers a place (epoch, offset) carries one
  message (p, s), and a message has at most one place: it is ordered once.
- No gap, no duplicate. Each subscriber's offsets of an epoch come in
  arrival order as 1, 2, 3...; only the first message of an epoch after a
  `resumed` frame with recovered:false (the client was told it missed
  something) may skip ahead. A recovered:true resume continues the client's
  own sequence, so it has no exception. No message twice.
- The same end everywhere. The main epoch is the one most subscribers end
  in; every subscriber ends in it with all of its offsets 1..N (N: the
  highest anyone saw), or all from the one it skipped to after a
  recovered:false resume. The ordering node stays up, so the nodes the fault
  did not touch see that one epoch only.
- Side epochs. A paused or cut-off victim orders its own clients' messages
  for a while under an epoch of its own: only its subscribers see it, and
  it holds only its own publishers' messages. As it links back it may see
  one peer before the other and go on ordering under that epoch for a
  moment, to that peer too: the other nodes' subscribers may get the last
  messages of a victim's side epoch (a "spill"), only between the heal and
  heal + 10 s, starting anywhere in it and without a gap from there.
- Every message sent is in the main epoch, in a side epoch, or reached no
  one (never ordered: on its way to the ordering node when the link
  dropped). Those not in the main epoch were sent within [fault - 1 s,
  heal + 10 s]; those sent in the last 3 s reached every subscriber in the
  main epoch.
- Only a killed node's clients reconnect, and only within [fault - 1 s,
  heal + 15 s]; everyone else keeps its one connection.
- Every resume (a client's `?since=` after a reconnect: `resumed` first on
  the connection) and every repair (chatd filling a gap mid-connection:
  `resumed` later on) is recovered:true, unless allowed otherwise; the
  messages each brought are the receipts on its connection after it, of its
  epoch, up to its offset.
- chatd counted them on the client's node: the deltas of
  chat_resumes_total{recovered} and chat_repairs_total{recovered} are the
  `resumed` frames its clients got (publishers too) as first frames and
  later ones. A killed node's counters die with it: for it the restarted
  process's counters against the frames after the restart.
"""

import bisect
import collections

import accounting

LEAD_S = accounting.LEAD_S  # messages in flight when the fault hits were sent this much before it, at most
SETTLE_S = accounting.SETTLE_S  # after healing, links come back within this
RESUME_S = accounting.RESUME_S  # messages sent in the last seconds of a phase must reach everyone
RECONNECT_S = 15.0  # a killed node's clients are back within this of its restart
STOP_SLACK_S = 0.5  # a client's last connection lasts until chat-bench stops, within this
CAP = 5  # failures of one kind listed, then how many more


class _Failures:
    """Failure messages by kind; CAP of each kind are listed, then how many more."""

    def __init__(self):
        self.by_kind = {}

    def add(self, kind, msg):
        self.by_kind.setdefault(kind, []).append(msg)

    def list(self):
        out = []
        for kind, msgs in self.by_kind.items():
            out += msgs[:CAP]
            if len(msgs) > CAP:
                out.append(f"... and {len(msgs) - CAP} more: {kind}")
        return out


def _s(us):
    return f"{us / 1e6:.3f} s"


def _msg(m):
    return f"{m[0]}#{m[1]}"


def _spans(nums, most=CAP):
    """Sorted numbers as "a..b, c, ...", at most `most` spans."""
    out = []
    for x in nums:
        if out and x == out[-1][1] + 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    text = ", ".join(f"{a}..{b}" if a != b else f"{a}" for a, b in out[:most])
    return text + (f" and {len(out) - most} more spans" if len(out) > most else "")


def _receipts(rep):
    """A subscriber's receipts in arrival order: (epoch, offset, (p, s), recv_us, connection index)."""
    starts = [c["at_us"] for c in rep["connections"]]
    return [(rep["epochs"][e], o, (p, s), us, bisect.bisect_right(starts, us) - 1)
            for e, o, p, s, us in rep["receipts"]]


def _skips(rep, recs):
    """Indices of the receipts that may skip ahead in their epoch: each the first of the
    resume's epoch (any, when it names none) after a recovered:false `resumed` on its connection."""
    out = set()
    for r in rep["resumes"]:
        if r["recovered"]:
            continue
        for i, (e, _, _, us, conn) in enumerate(recs):
            if conn == r["connection"] and us >= r["at_us"] and (e == r["epoch"] or not r["epoch"]):
                out.add(i)
                break
    return out


def _brought(r, recs):
    """Messages a `resumed` frame brought: receipts of its connection after it, of its epoch, up to its offset."""
    return sum(1 for e, o, _, us, conn in recs
               if conn == r["connection"] and us >= r["at_us"] and e == r["epoch"] and o <= r["offset"])


def _gaps(intervals, stop_us):
    """A client's offline stretches (us): between its connections, and after its last one before the stop."""
    gaps, prev = [], None
    for a, b in sorted(intervals):
        if prev is not None and a > prev:
            gaps.append((prev, a))
        prev = b if prev is None else max(prev, b)
    if prev is not None and prev < stop_us - STOP_SLACK_S * 1e6:
        gaps.append((prev, stop_us))
    return gaps


def analyze_phase(ph, allow_unrecovered=False):
    """Returns (summary, node_rows, failures): the phase's totals, one row per node, and what did not hold."""
    nodes, kind, victim, orderer = ph["nodes"], ph["kind"], ph.get("victim"), ph["orderer"]
    t, reps = ph["t"], ph["reports"]
    killed = kind == "kill"
    fails = _Failures()

    def rel_us(ns):
        return (ns - t["t0"]) / 1000

    fault_us, heal_us, end_us = rel_us(t["fault"]), rel_us(t["heal"]), rel_us(t["end"])
    win_lo, win_hi = fault_us - LEAD_S * 1e6, heal_us + SETTLE_S * 1e6
    back_by, tail_from = heal_us + RECONNECT_S * 1e6, end_us - RESUME_S * 1e6
    if tail_from <= win_hi:
        fails.add("phase too short", f"phase too short: the last {RESUME_S:.0f} s start before heal + settle")
    if victim is not None and victim == orderer:
        fails.add("victim orders", f"the victim {victim} orders the room: this analysis needs it ordered elsewhere")

    # 1. What chat-bench itself says.
    for n in nodes:
        r = reps[n]
        if r.get("protocol") != "chatd.v1":
            fails.add("protocol", f"{n}: chat-bench spoke {r.get('protocol')!r}, not chatd.v1")
        if r.get("connect_failed"):
            fails.add("connect failed", f"{n}: not every chat-bench client connected at the start")
        for key, what in (("duplicates", "duplicates"), ("bad_payloads", "bad payloads"), ("errors", "error frames")):
            if r.get(key, 0):
                fails.add(what, f"{n}: chat-bench saw {r[key]} {what}")
        if ph["bench_rc"].get(n, 0) != 0:
            fails.add("bench exit", f"{n}: chat-bench exited with {ph['bench_rc'][n]}")

    subs = [(n, f"{n} subscriber {s['index']}", s, _receipts(s)) for n in nodes for s in reps[n]["subscribers"]]

    # 2. One place per message, one message per place.
    by_place, by_msg = {}, {}
    for _, who, _, recs in subs:
        for e, o, m, _, _ in recs:
            by_place.setdefault((e, o), {}).setdefault(m, who)
            by_msg.setdefault(m, {}).setdefault((e, o), who)
    for (e, o), ms in by_place.items():
        if len(ms) > 1:
            fails.add("places with two messages", f"{e}:{o} carries {len(ms)} messages: "
                      + ", ".join(f"{_msg(m)} (seen by {w})" for m, w in ms.items()))
    for m, places in by_msg.items():
        if len(places) > 1:
            fails.add("messages ordered twice", f"{_msg(m)} was ordered {len(places)} times: "
                      + ", ".join(f"{e}:{o} (seen by {w})" for (e, o), w in places.items()))

    ends = collections.Counter(recs[-1][0] for _, _, _, recs in subs if recs)
    if not ends:
        fails.add("nothing received", "no subscriber received anything")
        return {"kind": kind, "victim": victim, "orderer": orderer, "main_epoch": None}, [], fails.list()
    main = ends.most_common(1)[0][0]
    # The victim's side epochs, and the receipts of them elsewhere that are a spill.
    victim_side = set()
    if kind in ("pause", "cut"):
        victim_side = {e for n, _, _, recs in subs if n == victim for e, _, _, _, _ in recs if e != main}
    spill = collections.defaultdict(set)  # who -> receipt indices
    for n, who, _, recs in subs:
        if n != victim:
            spill[who] = {i for i, (e, _, _, us, _) in enumerate(recs)
                          if e in victim_side and heal_us <= us <= win_hi}

    # 3. Each subscriber's sequence of each epoch: 1, 2, 3..., each message once.
    skips = {}
    for _, who, rep, recs in subs:
        skips[who] = _skips(rep, recs)
        firsts = {}
        for i in sorted(spill[who]):
            firsts.setdefault(recs[i][0], i)
        skips[who] |= set(firsts.values())  # a spill starts anywhere in its epoch
        last, seen = {}, set()
        for i, (e, o, m, us, _) in enumerate(recs):
            if m in seen:
                fails.add("messages received twice", f"{who} got {_msg(m)} twice ({e}:{o} at {_s(us)})")
            seen.add(m)
            prev = last.get(e, 0)
            if o <= prev:
                fails.add("offsets not increasing", f"{who}: {e}:{o} at {_s(us)} came after {e}:{prev}")
                continue
            if o != prev + 1 and i not in skips[who]:
                what = (f"after {e}:{prev}, missing {_spans(range(prev + 1, o))}" if prev
                        else "as its first of the epoch")
                fails.add("gaps", f"{who}: {e}:{o} at {_s(us)} came {what}")
            last[e] = o

    # 4. The main epoch: everyone ends in it with every offset of it.
    n_main = max(o for e, o in by_place if e == main)
    for _, who, _, recs in subs:
        if not recs:
            fails.add("subscribers ending elsewhere", f"{who} received nothing")
            continue
        if recs[-1][0] != main:
            fails.add("subscribers ending elsewhere", f"{who} ends in epoch {recs[-1][0]} at offset {recs[-1][1]}, "
                      f"not in the main epoch {main}")
        start = max((recs[i][1] for i in skips[who] if recs[i][0] == main), default=1)
        missing = sorted(set(range(start, n_main + 1)) - {o for e, o, _, _, _ in recs if e == main})
        if missing:
            told = ", where a recovered:false resume left it" if start > 1 else ""
            fails.add("main epoch incomplete", f"{who} lacks {main}:{_spans(missing)} "
                      f"({len(missing)} of {start}..{n_main}{told})")
    untouched = [n for n in nodes if n != victim]
    seen_there = sorted({e for n, who, _, recs in subs if n in untouched
                         for i, (e, _, _, _, _) in enumerate(recs) if i not in spill[who]})
    if len(seen_there) > 1:
        fails.add("epochs on untouched nodes", f"subscribers of {', '.join(untouched)} saw {len(seen_there)} epochs "
                  f"({', '.join(seen_there)}): with {orderer} up the room keeps one epoch")

    # 5. Side epochs: the paused or cut-off victim's own, for its own clients
    # (one seen elsewhere fails whole; on the victim, each message of another node's does).
    home = {(i + 1): n for i, n in enumerate(nodes)}  # publisher id // 1000 -> node
    side, foreign = {}, set()
    spilled = 0
    for n, who, _, recs in subs:
        offsets = collections.defaultdict(list)
        for i, (e, o, m, _, _) in enumerate(recs):
            if e == main:
                continue
            side[e] = max(side.get(e, 0), o)
            if i in spill[who]:
                spilled += 1
            else:
                offsets[e].append(o)
            if (n == victim or i in spill[who]) and home.get(m[0] // 1000) != victim and (e, o) not in foreign:
                foreign.add((e, o))
                fails.add("side epochs with others' messages", f"{e}:{o} ({who}) carries {_msg(m)} of "
                          f"{home.get(m[0] // 1000, 'no node')}'s publisher: a side epoch holds only "
                          f"the victim's own")
        for e, os in offsets.items():
            if n != victim or kind not in ("pause", "cut"):
                fails.add("side epochs where none may be", f"{who} got {len(os)} messages of epoch {e} "
                          f"({min(os)}..{max(os)}) besides the main one: only a paused or cut-off victim's "
                          f"clients may")

    # 6. Every message sent: ordered in the main epoch, in a side one, or never.
    node_rows = []
    sent_all = set()
    got_main = {who: {m for e, _, m, _, _ in recs if e == main} for _, who, _, recs in subs}
    for n in nodes:
        row = {"node": n, "sent": 0, "skipped": 0, "subscribers": len(reps[n]["subscribers"]), "reconnects": 0,
               "in_main": 0, "in_side": 0, "never_ordered": 0}
        for p in reps[n]["publishers"]:
            row["sent"] += len(p["send_us"])
            row["skipped"] += p.get("skipped", 0)
            for s, us in enumerate(p["send_us"]):
                m = (p["id"], s)
                sent_all.add(m)
                places = by_msg.get(m)
                e = next(iter(places))[0] if places else None
                row["in_main" if e == main else "in_side" if e else "never_ordered"] += 1
                if e != main and not win_lo <= us <= win_hi:
                    fails.add("misses outside the window", f"{n}: {_msg(m)} sent at {_s(us)} was "
                              f"{'ordered in side epoch ' + e if e else 'never ordered'}, outside the fault "
                              f"window [{_s(win_lo)}, {_s(win_hi)}]")
                if us >= tail_from:
                    lack = [who for who, got in got_main.items() if m not in got]
                    if lack:
                        fails.add("late messages missed", f"{n}: {_msg(m)} sent at {_s(us)}, in the last "
                                  f"{RESUME_S:.0f} s, is not in the main epoch of {', '.join(lack)}")
        node_rows.append(row)
    for m in sorted(set(by_msg) - sent_all):
        fails.add("messages nobody sent", f"{_msg(m)} was received but no publisher sent it")

    # 7. Connections: only a killed node's clients reconnect, in the window.
    for n, row in zip(nodes, node_rows):
        stop = reps[n]["stop_us"]
        clients = [(f"{n} publisher {p['id']}", p) for p in reps[n]["publishers"]]
        clients += [(f"{n} subscriber {s['index']}", s) for s in reps[n]["subscribers"]]
        for who, c in clients:
            row["reconnects"] += max(0, len(c["intervals"]) - 1)
            for a, b in _gaps(c["intervals"], stop):
                if not (killed and n == victim):
                    fails.add("disconnects", f"{who} was disconnected {_s(a)}..{_s(b)}: only a killed node's "
                              f"clients may be")
                elif a < win_lo or b > back_by:
                    fails.add("disconnects", f"{who} was offline {_s(a)}..{_s(b)}, outside "
                              f"[{_s(win_lo)}, {_s(back_by)}]")

    # 8. Resumes and repairs: recovered, and what each brought.
    recs_of = {who: recs for _, who, _, recs in subs}
    summary = {"kind": kind, "victim": victim, "orderer": orderer, "main_epoch": main, "main_n": n_main,
               "side_epochs": side, "spilled": spilled, "sent": len(sent_all), "subscribers": len(subs),
               "in_main": sum(r["in_main"] for r in node_rows), "in_side": sum(r["in_side"] for r in node_rows),
               "never_ordered": sum(r["never_ordered"] for r in node_rows),
               "resumes": 0, "resumes_recovered": 0, "resume_sizes": [],
               "repairs": 0, "repairs_recovered": 0, "repair_sizes": []}
    frames = {n: collections.Counter() for n in nodes}  # (first, recovered) -> frames chatd should have counted
    for n, row in zip(nodes, node_rows):
        for k in ("resumes", "resumes_recovered", "repairs", "repairs_recovered", "resumed_msgs", "repaired_msgs"):
            row[k] = 0
        clients = [(f"{n} publisher {p['id']}", p) for p in reps[n]["publishers"]]
        clients += [(f"{n} subscriber {s['index']}", s) for s in reps[n]["subscribers"]]
        for who, c in clients:
            for r in c.get("resumes", []):
                what = "resumes" if r["first"] else "repairs"
                row[what] += 1
                row[what + "_recovered"] += r["recovered"]
                if who in recs_of:
                    brought = _brought(r, recs_of[who])
                    row["resumed_msgs" if r["first"] else "repaired_msgs"] += brought
                    summary["resume_sizes" if r["first"] else "repair_sizes"].append(brought)
                if not r["recovered"] and not allow_unrecovered:
                    how = (f"resume of connection {r['connection']} (since {r['since'] or 'none'})" if r["first"]
                           else f"repair on connection {r['connection']}")
                    fails.add("unrecovered", f"{who}: the {how} at {_s(r['at_us'])} came recovered:false "
                              f"({r['epoch'] or 'no epoch'}:{r['offset']})")
                if not (killed and n == victim) or r["at_us"] >= heal_us:
                    frames[n][(r["first"], r["recovered"])] += 1
        for k in ("resumes", "resumes_recovered", "repairs", "repairs_recovered"):
            summary[k] += row[k]

    # 9. chatd's counters: the frames its clients got, on their own node.
    for n, row in zip(nodes, node_rows):
        old = None if killed and n == victim else ph["before"][n]
        for name, first in (("chat_resumes_total", True), ("chat_repairs_total", False)):
            row[name] = {}
            for rec in (True, False):
                label = "true" if rec else "false"
                d = accounting.metric(ph["after"][n], name, recovered=label)
                if old is not None:
                    d -= accounting.metric(old, name, recovered=label)
                row[name][label] = d
                want = frames[n][(first, rec)]
                if d != want:
                    life = " (the restarted process)" if old is None else ""
                    fails.add("counters", f"{n}{life}: {name}{{recovered=\"{label}\"}} rose by {d:.0f}, its clients "
                              f"got {want} resumed frames {'first' if first else 'mid-connection'} with "
                              f"recovered:{label}")
    return summary, node_rows, fails.list()


def _row(cols, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cols, widths))


def _sizes(sizes):
    """What the subscribers' `resumed` frames brought (publishers record no receipts)."""
    text = f"the subscribers' {len(sizes)} brought {sum(sizes)} messages"
    return text + (f" (mean {sum(sizes) / len(sizes):.1f}, max {max(sizes)})" if sizes else "")


def format_phase(ph, summary, node_rows):
    """The phase as a few lines of text for the log."""
    t, s = ph["t"], summary
    linked = (t["linked"] - t["heal"]) / 1e9 if t.get("linked") else float("nan")
    out = [f"== phase {ph['kind']} (victim {ph['victim']}, room ordered by {ph['orderer']}, ordered mode): fault at "
           f"{(t['fault'] - t['t0']) / 1e9:.1f} s, healed at {(t['heal'] - t['t0']) / 1e9:.1f} s, cluster linked "
           f"{linked:.1f} s later, publishing {(t['end'] - t['t0']) / 1e9:.0f} s"]
    if s.get("main_epoch") is None:
        return "\n".join(out + ["   no subscriber received anything"])
    side = ", ".join(f"{e} ({n} offsets)" for e, n in s["side_epochs"].items()) or "none"
    spill = (f" (their last messages reached other nodes' subscribers as they linked back: {s['spilled']} receipts)"
             if s.get("spilled") else "")
    out.append(f"   main epoch {s['main_epoch']}: offsets 1..{s['main_n']}; side epochs: {side}{spill}")
    head = ["node", "sent", "skipped", "subs", "reconn", "main", "side", "never", "resumes", "rec", "msgs",
            "repairs", "rec", "msgs", "counted res t/f", "counted rep t/f"]
    widths = [4, 6, 7, 4, 6, 6, 5, 5, 7, 4, 6, 7, 4, 6, 15, 15]
    out.append(_row(head, widths))
    for r in node_rows:
        res, rep = r["chat_resumes_total"], r["chat_repairs_total"]
        out.append(_row([r["node"], r["sent"], r["skipped"], r["subscribers"], r["reconnects"], r["in_main"],
                         r["in_side"], r["never_ordered"], r["resumes"], r["resumes_recovered"], r["resumed_msgs"],
                         r["repairs"], r["repairs_recovered"], r["repaired_msgs"],
                         f"{res['true']:.0f}/{res['false']:.0f}", f"{rep['true']:.0f}/{rep['false']:.0f}"], widths))
    out.append(f"   total: sent {s['sent']}, in the main epoch {s['in_main']}, in side epochs {s['in_side']}, never "
               f"ordered {s['never_ordered']}; resumes {s['resumes']} ({s['resumes_recovered']} recovered), "
               f"{_sizes(s['resume_sizes'])}; repairs {s['repairs']} ({s['repairs_recovered']} recovered), "
               f"{_sizes(s['repair_sizes'])}")
    return "\n".join(out)
