#!/usr/bin/python3
"""Unit tests of recovery.py on made-up ordered phases: a killed node whose
clients resume, a paused or cut-off node that orders a side epoch for its
own clients and is repaired, and a phase without a fault pass; each kind of
break in the order or in its accounting the fault test is there to catch
makes it fail, for that reason."""

import sys
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import recovery  # noqa: E402

NODES = ["n1", "n2", "n3"]
T0 = 10**12
RATE = 10  # msgs/s per publisher
DURATION = 24  # s of publishing
FAULT, HEAL = 4.0, 8.0  # s after t0
BACK = HEAL + 0.5  # a killed node's clients are connected again
SIDE = FAULT + 1.0  # a paused or cut-off node orders its own clients' messages from here...
LINKED = HEAL + 1.0  # ...until it is linked again; its clients are repaired then
STOP = DURATION + 1  # s: chat-bench closes its clients
MAIN, SIDE_EPOCH = "5a1e0c9d22f1-0-3", "77b0d2e41a08-0-1"
COUNTERS = ("chat_resumes_total", "chat_repairs_total")


def us(sec):
    return int(sec * 1_000_000)


def subscriber(index, receipts, connections, resumes=(), intervals=None):
    """A subscriber's report from its receipts [(epoch, offset, (p, s), recv_us)] in arrival order."""
    epochs, rows = [], []
    for e, o, (p, s), at in receipts:
        if e not in epochs:
            epochs.append(e)
        rows.append([epochs.index(e), o, p, s, at])
    return {"index": index, "duplicates": 0, "out_of_order": 0,
            "intervals": intervals or [[-400_000, us(STOP)]], "epochs": epochs, "receipts": rows,
            "connections": [{"at_us": a, "since": since} for a, since in connections], "resumes": list(resumes)}


def resumed(at, connection, first, offset, since=""):
    """A recovered:true `resumed` frame of MAIN, up to `offset`."""
    return {"at_us": at, "connection": connection, "first": first, "since": since, "recovered": True,
            "epoch": MAIN, "offset": offset}


def make_phase(kind="pause", victim="n2", orderer="n1", lost=()):
    """One publisher (id K000) and two subscribers per node in one room that `orderer`
    orders. Every message is ordered in MAIN in send order, except `lost` ones and:
    kill: the victim is down FAULT..HEAL; its publisher's messages of the 0.2 s before
    are never ordered, it skips those due until BACK; its subscribers reconnect at BACK
    and resume recovered:true with what they missed.
    pause, cut: the victim's publisher's messages from FAULT are never ordered until
    SIDE, then the victim orders them in SIDE_EPOCH, for its own subscribers only, until
    LINKED; then each of its clients gets a recovered:true repair of MAIN.
    chatd's counters match the resumed frames (recount)."""
    cut_off = kind in ("pause", "cut")
    pubs, fate = {}, {}  # node -> publisher report; (p, s) -> "main" | "side" | "lost"
    for i, n in enumerate(NODES, 1):
        pid = i * 1000
        due = [k * 1_000_000 // RATE for k in range(RATE * DURATION)]
        down = kind == "kill" and n == victim
        send = [t for t in due if not (down and us(FAULT) <= t < us(BACK))]
        pubs[n] = {"id": pid, "sent": len(send), "skipped": len(due) - len(send), "send_us": send,
                   "epochs": [[0, 0]], "intervals": [[-400_000, us(STOP)]], "resumes": []}
        if down:
            pubs[n]["epochs"].append([sum(1 for t in send if t < us(FAULT)), 1])
            pubs[n]["intervals"] = [[-400_000, us(FAULT)], [us(BACK), us(STOP)]]
        for s, t in enumerate(send):
            f = "main"
            if down and us(FAULT - 0.2) <= t < us(FAULT):
                f = "lost"
            if cut_off and n == victim and us(FAULT) <= t < us(LINKED):
                f = "lost" if t < us(SIDE) else "side"
            fate[(pid, s)] = "lost" if (pid, s) in lost else f
    sent = sorted((t, p["id"], s) for p in pubs.values() for s, t in enumerate(p["send_us"]))
    main = [(t, (p, s)) for t, p, s in sent if fate[(p, s)] == "main"]  # offset k + 1 at main[k]
    side = [(t, (p, s)) for t, p, s in sent if fate[(p, s)] == "side"]
    live = [(MAIN, k + 1, m, t + 2000) for k, (t, m) in enumerate(main)]  # ordered at t + 1 ms, got 1 ms later

    def last_ordered(at):
        return sum(1 for t, _ in main if t + 1000 <= at)

    reports = {}
    for n in NODES:
        subs = []
        for index in range(2):
            if n != victim or kind == "none":
                subs.append(subscriber(index, live, [(-400_000, "")]))
                continue
            before = [r for r in live if r[3] < us(FAULT)]
            k = len(before)
            if kind == "kill":
                o = last_ordered(us(BACK) + 1000)
                replay = [(MAIN, j, main[j - 1][1], us(BACK) + 2000) for j in range(k + 1, o + 1)]
                subs.append(subscriber(index, before + replay + live[o:],
                                       [(-400_000, ""), (us(BACK), f"{MAIN}:{k}")],
                                       [resumed(us(BACK) + 1000, 1, True, o, since=f"{MAIN}:{k}")],
                                       [[-400_000, us(FAULT)], [us(BACK), us(STOP)]]))
            else:
                o = last_ordered(us(LINKED))
                own = [(SIDE_EPOCH, j + 1, m, t + 2000) for j, (t, m) in enumerate(side)]
                replay = [(MAIN, j, main[j - 1][1], us(LINKED) + 1000) for j in range(k + 1, o + 1)]
                subs.append(subscriber(index, before + own + replay + live[o:], [(-400_000, "")],
                                       [resumed(us(LINKED), 0, False, o)]))
                pubs[n]["resumes"] = [resumed(us(LINKED), 0, False, o)]
        reports[n] = {"protocol": "chatd.v1", "connect_failed": False, "sent": pubs[n]["sent"],
                      "skipped": pubs[n]["skipped"], "duplicates": 0, "bad_payloads": 0, "errors": 0,
                      "stop_us": us(STOP), "publishers": [pubs[n]], "subscribers": subs}
    ph = {"kind": kind, "victim": None if kind == "none" else victim, "orderer": orderer, "nodes": NODES,
          "reports": reports, "bench_rc": {n: 0 for n in NODES},
          "t": {"t0": T0, "fault": T0 + us(FAULT) * 1000, "heal": T0 + us(HEAL) * 1000,
                "end": T0 + us(DURATION) * 1000, "linked": T0 + us(LINKED) * 1000}}
    recount(ph)
    return ph


def recount(ph):
    """chatd's counters as they should be for the resumed frames of the reports: on
    each client's node; a killed node's before the phase belong to its old process."""
    ph["before"], ph["after"] = {}, {}
    for n in NODES:
        fresh = ph["kind"] == "kill" and n == ph["victim"]
        base = 9.0 if fresh else 2.0  # the killed process counted more than the new one ever will here
        ph["before"][n] = {c: {f"recovered={v}": base for v in ("true", "false")} for c in COUNTERS}
        ph["after"][n] = {c: {f"recovered={v}": 0.0 if fresh else base for v in ("true", "false")}
                          for c in COUNTERS}
        clients = ph["reports"][n]["publishers"] + ph["reports"][n]["subscribers"]
        for r in (r for c in clients for r in c["resumes"]):
            name = COUNTERS[0] if r["first"] else COUNTERS[1]
            ph["after"][n][name][f"recovered={'true' if r['recovered'] else 'false'}"] += 1


def sub(ph, node, index):
    return ph["reports"][node]["subscribers"][index]


def offset_at(ph, node, index, offset, epoch=MAIN):
    """The position in a subscriber's receipts of (epoch, offset)."""
    s = sub(ph, node, index)
    e = s["epochs"].index(epoch)
    return next(i for i, r in enumerate(s["receipts"]) if r[0] == e and r[1] == offset)


class RecoveryTest(unittest.TestCase):
    def analyze(self, ph, **kw):
        return recovery.analyze_phase(ph, **kw)

    def assert_fails(self, ph, text, **kw):
        _, _, fails = self.analyze(ph, **kw)
        self.assertTrue(any(text in f for f in fails), f"expected a failure with {text!r}, got {fails}")
        return fails

    def assert_passes(self, ph, **kw):
        summary, rows, fails = self.analyze(ph, **kw)
        self.assertEqual(fails, [])
        self.assertIn(f"main epoch {MAIN}", recovery.format_phase(ph, summary, rows))
        return summary, {r["node"]: r for r in rows}

    # --- clean phases ----------------------------------------------------
    def test_a_killed_node_whose_subscribers_resume_recovered_passes(self):
        ph = make_phase("kill", victim="n3")
        s, rows = self.assert_passes(ph)
        self.assertEqual((s["main_epoch"], s["side_epochs"], s["never_ordered"]), (MAIN, {}, 2))
        self.assertEqual((s["resumes"], s["resumes_recovered"], s["repairs"]), (2, 2, 0))
        missed = 2 * 45 + 3  # n1's and n2's from 4.0 to 8.4 s, and all three at 8.5 s, ordered by the resume
        self.assertEqual(s["resume_sizes"], [missed, missed])
        r = sub(ph, "n3", 0)["resumes"][0]
        self.assertEqual(r["offset"] - int(r["since"].rsplit(":", 1)[1]), missed)
        self.assertEqual((rows["n3"]["reconnects"], rows["n3"]["never_ordered"], rows["n3"]["skipped"]), (3, 2, 45))
        self.assertEqual(rows["n3"]["chat_resumes_total"], {"true": 2.0, "false": 0.0})
        self.assertEqual(s["main_n"], s["in_main"])

    def test_a_paused_node_with_a_side_epoch_then_a_repair_passes(self):
        s, rows = self.assert_passes(make_phase("pause", victim="n2"))
        side = int((LINKED - SIDE) * RATE)
        self.assertEqual((s["side_epochs"], s["in_side"], s["never_ordered"]), ({SIDE_EPOCH: side}, side, 10))
        self.assertEqual((s["repairs"], s["repairs_recovered"], s["resumes"]), (3, 3, 0))  # publisher's too
        self.assertEqual(len(s["repair_sizes"]), 2)
        self.assertTrue(all(n > 0 for n in s["repair_sizes"]))
        self.assertEqual(rows["n2"]["chat_repairs_total"], {"true": 3.0, "false": 0.0})
        self.assertEqual(rows["n2"]["reconnects"], 0)

    def test_a_cut_node_and_a_phase_without_fault_pass(self):
        self.assert_passes(make_phase("cut", victim="n1", orderer="n2"))
        s, _ = self.assert_passes(make_phase("none"))
        self.assertEqual((s["never_ordered"], s["main_n"]), (0, 3 * RATE * DURATION))

    # --- 1. sanity -------------------------------------------------------
    def test_error_frames_a_failed_bench_or_another_protocol_fail(self):
        ph = make_phase()
        ph["reports"]["n3"]["errors"] = 2
        ph["bench_rc"]["n1"] = 1
        ph["reports"]["n2"]["protocol"] = "raw"
        fails = self.assert_fails(ph, "n3: chat-bench saw 2 error frames")
        self.assertIn("n1: chat-bench exited with 1", fails)
        self.assertIn("n2: chat-bench spoke 'raw', not chatd.v1", fails)

    # --- 2. one order ----------------------------------------------------
    def test_one_place_with_two_messages_fails(self):
        ph = make_phase()
        r = sub(ph, "n3", 1)["receipts"]
        i = offset_at(ph, "n3", 1, 40)
        r[i][2:4], r[i + 1][2:4] = r[i + 1][2:4], r[i][2:4]  # 40 and 41 swapped their messages here only
        self.assert_fails(ph, f"{MAIN}:40 carries 2 messages")

    def test_a_message_ordered_twice_fails(self):
        ph = make_phase()
        m = next(r for r in sub(ph, "n2", 0)["receipts"] if r[0] == 0 and r[2] == 2000)[2:4]
        for index in (0, 1):  # the side epoch's first place holds one of n2's main messages too
            i = offset_at(ph, "n2", index, 1, SIDE_EPOCH)
            sub(ph, "n2", index)["receipts"][i][2:4] = m
        self.assert_fails(ph, f"{m[0]}#{m[1]} was ordered 2 times")

    # --- 3. each subscriber's sequence -----------------------------------
    def test_a_gap_fails(self):
        ph = make_phase()
        del sub(ph, "n3", 1)["receipts"][offset_at(ph, "n3", 1, 40)]
        fails = self.assert_fails(ph, f"n3 subscriber 1: {MAIN}:41 at ")
        self.assertTrue(any(f"came after {MAIN}:39, missing 40" in f for f in fails), fails)
        self.assertTrue(any(f.startswith(f"n3 subscriber 1 lacks {MAIN}:40 (1 of 1..") for f in fails), fails)

    def test_a_message_received_twice_fails(self):
        ph = make_phase()
        r = sub(ph, "n1", 0)["receipts"]
        r.insert(50, list(r[49]))
        self.assert_fails(ph, f"n1 subscriber 0 got {r[49][2]}#{r[49][3]} twice")

    def test_offsets_out_of_order_fail(self):
        ph = make_phase()
        r = sub(ph, "n1", 1)["receipts"]
        r[60], r[61] = r[61], r[60]
        self.assert_fails(ph, f"n1 subscriber 1: {MAIN}:61 at ")
        self.assert_fails(ph, f"came after {MAIN}:62")

    def test_repeats_of_one_kind_are_capped(self):
        ph = make_phase()
        r = sub(ph, "n3", 0)["receipts"]
        n = len(r)
        r[:] = [x for i, x in enumerate(r) if i % 10 != 5]  # a gap each
        _, _, fails = self.analyze(ph)
        gaps = [f for f in fails if "n3 subscriber 0: " in f and ", missing " in f]
        self.assertEqual(len(gaps), recovery.CAP)
        self.assertIn(f"... and {n - len(r) - recovery.CAP} more: gaps", fails)

    # --- 4. the same end everywhere --------------------------------------
    def test_a_subscriber_missing_the_end_fails(self):
        ph = make_phase()
        r = sub(ph, "n1", 1)["receipts"]
        n = r[-1][1]
        del r[-5:]
        self.assert_fails(ph, f"n1 subscriber 1 lacks {MAIN}:{n - 4}..{n} (5 of 1..{n})")

    def test_a_victim_left_in_its_side_epoch_fails(self):
        ph = make_phase()
        s = sub(ph, "n2", 0)
        s["receipts"] = [r for r in s["receipts"] if r[4] < us(LINKED)]
        s["resumes"] = []
        recount(ph)
        self.assert_fails(ph, f"n2 subscriber 0 ends in epoch {SIDE_EPOCH} at offset")

    def test_a_second_epoch_on_the_untouched_nodes_fails(self):
        ph = make_phase("none")
        for n in NODES:
            for s in ph["reports"][n]["subscribers"]:
                s["epochs"].append("9c0ffee00000-0-4")
                for r in s["receipts"]:
                    if r[1] > 100:
                        r[0], r[1] = 1, r[1] - 100
        fails = self.assert_fails(ph, "subscribers of n1, n2, n3 saw 2 epochs")
        self.assertTrue(any("with n1 up the room keeps one epoch" in f for f in fails), fails)

    # --- 5. side epochs --------------------------------------------------
    def add_side_receipts(self, ph, node, index, keep):
        """Gives a subscriber of `node` the victim n2's SIDE_EPOCH receipts for which keep(receipt) holds."""
        other = sub(ph, node, index)
        own = [[1] + r[1:] for r in sub(ph, "n2", 0)["receipts"] if r[0] == 1 and keep(r)]  # MAIN 0, SIDE 1
        other["epochs"].append(SIDE_EPOCH)
        other["receipts"] = sorted(other["receipts"] + own, key=lambda r: r[4])
        return own

    def test_a_side_epoch_on_a_node_that_was_not_the_victim_fails(self):
        ph = make_phase()
        own = self.add_side_receipts(ph, "n3", 0, lambda r: r[4] < us(HEAL))
        self.assert_fails(ph, f"n3 subscriber 0 got {len(own)} messages of epoch {SIDE_EPOCH} (1..{len(own)}) "
                          "besides the main one")

    def test_the_last_of_a_side_epoch_reaching_another_node_after_the_heal_passes(self):
        ph = make_phase()  # the victim links to n3 first and orders for it a moment longer
        own = self.add_side_receipts(ph, "n3", 1, lambda r: r[4] >= us(HEAL))
        self.assertTrue(own and own[0][1] > 1)
        s, _ = self.assert_passes(ph)
        self.assertEqual(s["spilled"], len(own))

    def test_a_side_epoch_reaching_another_node_with_a_gap_fails(self):
        ph = make_phase()
        own = self.add_side_receipts(ph, "n3", 1, lambda r: r[4] >= us(HEAL))
        gone = own[1][1]
        sub(ph, "n3", 1)["receipts"].remove(own[1])
        self.assert_fails(ph, f"n3 subscriber 1: {SIDE_EPOCH}:{gone + 1} at")

    def test_a_side_epoch_in_a_kill_fails(self):
        ph = make_phase("pause", victim="n2")
        ph["kind"] = "kill"  # n2's side epoch, as if n2 had been killed rather than paused
        recount(ph)
        side = int((LINKED - SIDE) * RATE)
        self.assert_fails(ph, f"n2 subscriber 1 got {side} messages of epoch {SIDE_EPOCH} (1..{side}) besides the "
                          "main one: only a paused or cut-off victim's clients may")

    def test_a_side_epoch_holding_another_nodes_message_fails(self):
        ph = make_phase()
        for index in (0, 1):
            i = offset_at(ph, "n2", index, 3, SIDE_EPOCH)
            sub(ph, "n2", index)["receipts"][i][2:4] = [3000, 5]
        self.assert_fails(ph, f"{SIDE_EPOCH}:3 (n2 subscriber 0) carries 3000#5 of n3's publisher")

    # --- 6. every message sent -------------------------------------------
    def test_a_message_never_ordered_outside_the_fault_window_fails(self):
        ph = make_phase(lost={(3000, 10)})  # sent at 1 s
        self.assert_fails(ph, "n3: 3000#10 sent at 1.000 s was never ordered, outside the fault window")

    def test_a_message_of_the_last_seconds_missing_fails(self):
        ph = make_phase(lost={(1000, 225)})  # sent at 22.5 s
        fails = self.assert_fails(ph, "n1: 1000#225 sent at 22.500 s, in the last 3 s, is not in the main epoch "
                                  "of n1 subscriber 0, n1 subscriber 1, n2 subscriber 0")
        self.assertTrue(any("1000#225 sent at 22.500 s was never ordered" in f for f in fails), fails)

    # --- 7. connections --------------------------------------------------
    def test_a_disconnect_outside_a_kill_fails(self):
        ph = make_phase()
        sub(ph, "n3", 1)["intervals"] = [[-400_000, us(6.0)], [us(6.2), us(STOP)]]
        ph["reports"]["n1"]["publishers"][0]["intervals"] = [[-400_000, us(20.0)]]
        fails = self.assert_fails(ph, "n3 subscriber 1 was disconnected 6.000 s..6.200 s")
        self.assertTrue(any("n1 publisher 1000 was disconnected 20.000 s..25.000 s" in f for f in fails), fails)

    def test_a_killed_nodes_client_back_too_late_fails(self):
        ph = make_phase("kill", victim="n3")
        ph["reports"]["n3"]["publishers"][0]["intervals"][1][0] = us(HEAL + 16)
        self.assert_fails(ph, "n3 publisher 3000 was offline 4.000 s..24.000 s, outside [3.000 s, 23.000 s]")

    # --- 8. resumes and repairs ------------------------------------------
    def test_an_unrecovered_resume_fails_unless_allowed(self):
        ph = make_phase("kill", victim="n3")
        s = sub(ph, "n3", 0)
        r = s["resumes"][0]
        r["recovered"] = False
        # it got only the last 5 of what it missed: a skip it was told of, allowed once unrecovered ones are
        s["receipts"] = [x for x in s["receipts"] if not (x[4] > us(BACK) and x[1] <= r["offset"] - 5)]
        recount(ph)
        self.assert_fails(ph, f"n3 subscriber 0: the resume of connection 1 (since {r['since']}) at 8.501 s came "
                          f"recovered:false ({MAIN}:{r['offset']})")
        summary, _, fails = self.analyze(ph, allow_unrecovered=True)
        self.assertEqual(fails, [])
        self.assertEqual((summary["resumes_recovered"], summary["resume_sizes"][0]), (1, 5))

    def test_an_unrecovered_repair_fails(self):
        ph = make_phase()
        ph["reports"]["n2"]["publishers"][0]["resumes"][0]["recovered"] = False
        recount(ph)
        self.assert_fails(ph, "n2 publisher 2000: the repair on connection 0 at 9.000 s came recovered:false")

    # --- 9. chatd's counters ---------------------------------------------
    def test_counters_that_miss_a_repair_fail(self):
        ph = make_phase()
        ph["after"]["n2"]["chat_repairs_total"]["recovered=true"] -= 1
        self.assert_fails(ph, 'n2: chat_repairs_total{recovered="true"} rose by 2, its clients got 3 resumed frames '
                          "mid-connection with recovered:true")

    def test_a_restarted_node_counting_a_resume_it_did_not_send_fails(self):
        ph = make_phase("kill", victim="n3")
        ph["after"]["n3"]["chat_resumes_total"]["recovered=false"] += 1
        self.assert_fails(ph, 'n3 (the restarted process): chat_resumes_total{recovered="false"} rose by 1, its '
                          "clients got 0 resumed frames first with recovered:false")


if __name__ == "__main__":
    unittest.main()
