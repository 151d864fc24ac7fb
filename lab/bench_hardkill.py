#!/usr/bin/env python3
"""Benchmark "hard-kill": client outage when the master dies hard.

The client probes the VIP every 5 ms (lab/probe.py); the master A is
hard-killed — its link set down and vipd SIGKILLed at the same moment — at a
random phase of the advert cycle; the outage is the longest gap between
consecutive replies. Between runs A's link comes back, A's vipd restarts
(removing the VIP its killed run left behind) and preempts B again.

Usage (root):  python3 lab/bench_hardkill.py [--runs 5] [--interval 100ms] [--out FILE]
Env: BIN_DIR (default <repo>/.build/debug; binaries are copied at start), LAB_KEEP=1.
Prints each outage and the median on stderr and, on stdout (or --out FILE),
one JSON object: {"name":"hard-kill","daemon":"vipd","advert_interval_ms":100,"outage_ms":[...]}
"""

import argparse
import json
import os
import random
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vlab import Lab, LabError, interval_ms as to_ms  # noqa: E402
from vlab.util import say as lab_say  # noqa: E402


def say(text):
    lab_say(text, "bench")


def wait_baseline(lab, timeout=20):
    lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("a") == "master" and lab.state("b") == "backup",
                 timeout, what="A sole master, B backup", interval=0.05)


def one_run(lab, index, interval_ms):
    name = f"probe-{index}"
    stop, out, ready = (os.path.join(lab.dir, f"{name}.{x}") for x in ("stop", "json", "ready"))
    lab.python("c", "probe.py", "--stop-file", stop, "--out", out, "--ready-file", ready, "--max-duration", 120,
               name=name)
    lab.wait_for(lambda: os.path.exists(ready), 10, what="probe's first reply", interval=0.05)
    # Steady traffic first, then a random phase within the advert cycle.
    time.sleep(1.0 + random.uniform(0, interval_ms / 1000))
    b_mark = len(lab.log("b"))
    t_kill, t_down = lab.kill_hard("a")  # taken around the kill itself (also in DIR/killtime.a)
    lab.wait_for(lambda: "b" in lab.holders() and lab.state("b") == "master", 10 + 10 * interval_ms / 1000,
                 interval=0.02, what="B to take over")
    time.sleep(1.0 + 3 * interval_ms / 1000)  # replies flowing again for a while
    open(stop, "w").close()
    lab.wait_for(lambda: os.path.exists(out), 10, what="probe result", interval=0.05)
    lab.stop(name, timeout=5)
    with open(out) as f:
        result = json.load(f)
    b_log = lab.log("b")[b_mark:]
    reason = re.search(r"backup -> master \(([^)]*)\)", b_log)
    # The outage must be the one the kill caused: its last reply before the kill, its first after.
    straddles = (result["gap_start"] is not None
                 and result["gap_start"] <= t_down + 0.002 and t_kill - 0.002 <= result["gap_end"])
    detail = {
        "outage_ms": result["max_gap_ms"],
        "kill_to_first_reply_ms": round((result["gap_end"] - t_kill) * 1000, 1) if result["gap_end"] else None,
        "sent": result["sent"], "received": result["received"], "tail_gap_ms": result["tail_gap_ms"],
        "b_takeover": reason.group(1) if reason else None, "gap_covers_kill": straddles,
    }
    if not straddles or result["tail_gap_ms"] > 100:
        raise LabError(f"run {index}: the longest gap does not span the kill or did not end: {result}")
    # Back to the baseline: A's link up, A restarted (drops its leftover VIP), preempts B.
    lab.link_up("a")
    lab.start_vipd("a")
    wait_baseline(lab)
    return detail


def _sigterm(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")  # unwinds through the finally that tears the lab down


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--interval", default=os.environ.get("INTERVAL", "100ms"), help="advert interval (100ms, 1s)")
    p.add_argument("--adaptive", action="store_true", help="vipd with timing.detection: adaptive")
    p.add_argument("--warmup", type=float, default=0,
                   help="seconds of clean link before the first kill (adaptive detection learns the link)")
    p.add_argument("--out", help="write the JSON object here (default: stdout)")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    interval_ms = to_ms(args.interval)

    signal.signal(signal.SIGTERM, _sigterm)
    lab = Lab(interval_ms=interval_ms, timing_extra="  detection: {mode: adaptive}\n" if args.adaptive else "")
    ok = False
    try:
        lab.up()
        lab.start_vipd("a")
        lab.start_vipd("b")
        wait_baseline(lab)
        time.sleep(args.warmup)
        outages, details = [], []
        for i in range(1, args.runs + 1):
            d = one_run(lab, i, interval_ms)
            details.append(d)
            outages.append(round(d["outage_ms"], 1))
            say(f"run {i}: outage {d['outage_ms']:.1f} ms (kill -> first reply {d['kill_to_first_reply_ms']} ms; "
                f"B: {d['b_takeover']}; sent {d['sent']}, received {d['received']})")
        median = statistics.median(outages)
        say(f"hard-kill at {interval_ms} ms: outages {outages} ms, median {median:.1f} ms")
        doc = {"name": "hard-kill", "daemon": "vipd-adaptive" if args.adaptive else "vipd",
               "advert_interval_ms": interval_ms, "outage_ms": outages}
        text = json.dumps(doc)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        else:
            print(text, flush=True)
        ok = True
    finally:
        keep = os.environ.get("LAB_KEEP") == "1" or not ok
        if keep and lab.dir:
            say(f"keeping {lab.dir} (a.log, b.log, probe-*.json)")
        lab.close(keep=keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
