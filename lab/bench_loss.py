#!/usr/bin/env python3
"""Benchmark `loss`: three nodes, random loss on the master's link, and what
the daemons make of it (issue 17). Nodes a (priority 150, the master), b
(100) and d (50), the client c; nftables drops PERCENT of the heartbeats on
a's own eth0, both ways (`vlab` faults.loss: `numgen random`, this kernel has
no sch_netem), for --seconds after --warmup seconds of a clean link. Every
node runs the tiny name server on :80; the client opens a new connection to
the VIP every 10 ms (lab/httpprobe.py).

Per run: spurious takeovers (transitions to master on b or d while a lives),
the client's longest gap, and how long more than one node held the VIP
(polled every 10 ms). Daemons: vipd with the RFC rule, vipd with
`timing.detection: adaptive`, keepalived 2.2.7 (VRRPv3, unicast).

    python3 lab/bench_loss.py [--daemons vipd,vipd-adaptive,keepalived] [--intervals 20,100]
                              [--loss 10,30] [--seconds 60] [--warmup 20] [--runs 1] [--out FILE]
In `make bench` as the scenario `loss` (3 runs; quick: 1 run of 20 s at 20 ms, 30 %).
--recovery [--follow S]: vipd-adaptive on two nodes, B's master-down before a
minute of 30 % loss and every 10 s for S seconds after it, then a hard kill
(entries "adaptive-recovery").
Entries: {"name": "loss", "daemon", "advert_interval_ms", "loss_percent",
"spurious_transitions": [...], "max_client_gap_ms": [...], "dual_holder_ms": [...]}
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdaemons import daemon_for  # noqa: E402
from benchscenarios import open_lab  # noqa: E402
from vlab import VIP, Lab, say  # noqa: E402

NODES = ("a", "b", "d")


def one_run(name, interval_ms, percent, seconds, warmup):
    daemon = daemon_for(name)
    lab = Lab(nodes=NODES, interval_ms=interval_ms, **daemon.lab_options)
    ok = False
    try:
        lab.up()
        for n in NODES:
            lab.start_http(n)
        for n in NODES:
            daemon.start(lab, n)
        lab.wait_for(lambda: lab.holders() == ["a"] and daemon.state(lab, "a") == "master"
                     and all(daemon.state(lab, n) == "backup" for n in ("b", "d")), 30, "a sole master")
        time.sleep(warmup)
        stop, out, ready = (os.path.join(lab.dir, f"probe.{x}") for x in ("stop", "json", "ready"))
        lab.python("c", "httpprobe.py", VIP, "--interval", "0.01", "--timeout", "2", "--stop-file", stop,
                   "--out", out, "--ready-file", ready, "--max-duration", str(seconds + 60), name="probe")
        lab.wait_for(lambda: os.path.exists(ready), 15, "the probe's first answer")
        marks = {n: len(lab.log(n)) for n in NODES}
        lab.loss("a", percent, proto="vrrp" if name == "keepalived" else "udp")
        dual, end = 0.0, time.monotonic() + seconds
        last = time.monotonic()
        while time.monotonic() < end:
            now = time.monotonic()
            if len(lab.holders()) > 1:
                dual += now - last
            last = now
            time.sleep(0.01)
        lab.loss("a", 0, on=False)
        time.sleep(2)
        open(stop, "w").close()
        lab.wait_for(lambda: os.path.exists(out), 30, "the probe's result")
        lab.stop("probe")
        with open(out) as f:
            probe = json.load(f)
        spurious = sum(len([m for m in daemon.transition_re.finditer(lab.log(n)[marks[n]:])
                            if m.group(0).upper().endswith("MASTER") or "MASTER STATE" in m.group(0)])
                       for n in ("b", "d"))
        ok = True
        return {"spurious": spurious, "max_gap_ms": probe["max_gap_ms"], "dual_ms": round(dual * 1000),
                "failed": probe["failed"], "sent": probe["sent"]}
    finally:
        lab.close(keep=not ok or os.environ.get("LAB_KEEP") == "1")


def recovery_run(interval_ms, percent=30, burst_s=60, follow_s=300, every_s=10):
    """vipd-adaptive, two nodes: once B has learned a clean link (2 intervals),
    BURST_S of PERCENT loss on A's link, then a clean link again. B's
    master-down (vipctl status) just before the burst, every EVERY_S seconds
    for FOLLOW_S after it, and a hard kill of A at the end: the estimate must
    come back down, and the kill shows that what status says is what a kill
    gets (outage = the client's longest gap)."""
    daemon = daemon_for("vipd-adaptive")
    lab = open_lab(daemon, interval_ms, **daemon.lab_options)
    ok = False
    try:
        learned_s, before = daemon.warm(lab, lambda t: say(t, "recovery"))
        lab.loss("a", percent)
        time.sleep(burst_s)
        lab.loss("a", 0, on=False)
        timeline = []
        t0 = time.monotonic()
        while True:
            k, down = daemon.learned(lab)
            timeline.append({"after_s": round(time.monotonic() - t0), "intervals": k,
                             "master_down_ms": round(down, 1) if down else None})
            say(f"{interval_ms} ms, {timeline[-1]['after_s']} s after {burst_s} s of {percent} % loss: "
                f"{k} intervals, master-down {timeline[-1]['master_down_ms']} ms", "recovery")
            if time.monotonic() - t0 >= follow_s:
                break
            time.sleep(every_s)
        stop, out, ready = (os.path.join(lab.dir, f"probe.{x}") for x in ("stop", "json", "ready"))
        lab.python("c", "probe.py", "--stop-file", stop, "--out", out, "--ready-file", ready, "--max-duration", 60,
                   name="probe")
        lab.wait_for(lambda: os.path.exists(ready), 10, what="probe's first reply")
        time.sleep(1.0)
        lab.kill_hard("a")
        lab.wait_for(lambda: lab.state("b") == "master", 10, what="B to take over", interval=0.02)
        time.sleep(1.0)
        open(stop, "w").close()
        lab.wait_for(lambda: os.path.exists(out), 10, what="probe result")
        with open(out) as f:
            outage = json.load(f)["max_gap_ms"]
        say(f"{interval_ms} ms: hard kill {follow_s} s after the burst: outage {outage:.1f} ms "
            f"(B's master-down then {timeline[-1]['master_down_ms']} ms)", "recovery")
        ok = True
        return {"name": "adaptive-recovery", "daemon": "vipd-adaptive", "advert_interval_ms": interval_ms,
                "loss_percent": percent, "burst_s": burst_s, "learned_s": learned_s,
                "master_down_before_ms": round(before, 1) if before else None, "timeline": timeline,
                "kill_outage_ms": round(outage, 1)}
    finally:
        lab.close(keep=not ok or os.environ.get("LAB_KEEP") == "1")


def run(daemons, intervals, losses, seconds, warmup, runs):
    """The loss entries: every (interval, loss, daemon), RUNS fresh labs each,
    run k of every cell before run k + 1 (the machine's drift spreads evenly)."""
    cells = [(iv, pc, name) for iv in intervals for pc in losses for name in daemons]
    got = {c: [] for c in cells}
    for k in range(1, runs + 1):
        for iv, pc, name in cells:
            r = one_run(name, iv, pc, seconds, warmup)
            got[(iv, pc, name)].append(r)
            say(f"{name} {iv} ms, {pc} % loss, run {k}/{runs}: spurious {r['spurious']}, longest client gap "
                f"{r['max_gap_ms']} ms, dual holder {r['dual_ms']} ms, failed {r['failed']}/{r['sent']}", "loss")
    entries = []
    for (iv, pc, name), rs in got.items():
        entries.append({"name": "loss", "daemon": name, "advert_interval_ms": iv, "loss_percent": pc,
                        "seconds": seconds, "spurious_transitions": [r["spurious"] for r in rs],
                        "max_client_gap_ms": [r["max_gap_ms"] for r in rs],
                        "dual_holder_ms": [r["dual_ms"] for r in rs],
                        "failed_requests": [f"{r['failed']}/{r['sent']}" for r in rs]})
    return entries


def table(entries):
    """Markdown: medians per cell."""
    rows = ["| advert | loss | daemon | spurious takeovers (runs) | median | longest client gap ms, median / max | "
            "two holders ms, median |", "|---|---|---|---|---|---|---|"]
    for e in entries:
        gaps = e["max_client_gap_ms"]
        rows.append(f"| {e['advert_interval_ms']} ms | {e['loss_percent']} % | {e['daemon']} | "
                    f"{e['spurious_transitions']} | {statistics.median(e['spurious_transitions'])} | "
                    f"{statistics.median(gaps):.1f} / {max(gaps):.1f} | {statistics.median(e['dual_holder_ms'])} |")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--daemons", default="vipd,vipd-adaptive,keepalived")
    p.add_argument("--intervals", default="20,100")
    p.add_argument("--loss", default="10,30")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=20)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--recovery", action="store_true",
                   help="instead: vipd-adaptive's master-down before and after a minute of 30 %% loss (recovery_run)")
    p.add_argument("--follow", type=float, default=300, help="--recovery: seconds followed after the burst")
    p.add_argument("--out")
    a = p.parse_args()
    if a.recovery:
        entries = [recovery_run(int(iv), follow_s=a.follow) for iv in a.intervals.split(",")]
        text = json.dumps(entries, indent=2)
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text + "\n")
        return
    entries = run(a.daemons.split(","), [int(x) for x in a.intervals.split(",")], [int(x) for x in a.loss.split(",")],
                  a.seconds, a.warmup, a.runs)
    print(table(entries), file=sys.stderr)
    text = json.dumps(entries, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
