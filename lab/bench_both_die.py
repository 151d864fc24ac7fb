#!/usr/bin/env python3
"""Benchmark `both-backends-die`: both bingo instances die at the same moment
(seen in the real world: they share a database and a release, so one cause
kills both) while a client sends requests through the VIP. How long is the
service down, and what makes up that time?

The lab (lab/vlab): on each node the project's nginx front, the stand-in and
vipd with its checks and nginx manager; the client probes the VIP with a new
connection every 10 ms (GET /ping, lab/httpprobe.py). Both stand-ins are
SIGKILLed at once (as an OOM kill or a crash would) and started again
--restart-sec later, as systemd's Restart=always would (default: the
RestartSec of the shipped systemd/bingo.service); the stand-in's start-up is its real one without a route
to 8.8.8.8 (bingo.service installs a blackhole route so that this is the fast
path: 2 s), --runs times.

Figures per run: the client's outage (the longest gap between successful
answers), the time until each stand-in listens again, and the gap between
the first stand-in listening and the first success (what the front adds).

    python3 lab/bench_both_die.py [--runs 5] [--restart-sec 1] [--out FILE]
Needs root; BIN_DIR as the rest of the lab.
"""

import argparse
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vlab import VIP, Lab, say  # noqa: E402
from vlab.bingo import shipped_restart_sec  # noqa: E402


def run_once(lab, index, restart_sec):
    stop, out, ready = (os.path.join(lab.dir, f"probe-{index}.{x}") for x in ("stop", "json", "ready"))
    lab.python("c", "httpprobe.py", VIP, "--path", "/ping", "--interval", "0.01", "--timeout", "2",
               "--stop-file", stop, "--out", out, "--ready-file", ready, "--max-duration", "120",
               "--report-gap-ms", "200", name=f"probe-{index}")
    lab.wait_for(lambda: os.path.exists(ready), 15, "the probe's first answer")
    time.sleep(1.0)
    t_kill = time.time()
    for n in lab.nodes:
        os.kill(lab.pid(f"bingo-{n}"), signal.SIGKILL)
    for n in lab.nodes:
        lab.registry.wait_gone(lab.pid(f"bingo-{n}") or 0, 5)
    time.sleep(max(0.0, t_kill + restart_sec - time.time()))
    for n in lab.nodes:
        lab.restart_bingo(n, wait=False)
    back = {}
    while len(back) < len(lab.nodes) and time.time() - t_kill < 60:
        for n in lab.nodes:
            if n not in back and lab.bingo_port(n):
                back[n] = time.time()
        time.sleep(0.005)
    lab.wait_for(lambda: all(not lab.marked_down(n) for n in lab.nodes), 30, "both backends up in nginx")
    time.sleep(2.0)
    open(stop, "w").close()
    lab.wait_for(lambda: os.path.exists(out), 20, "the probe's result")
    lab.stop(f"probe-{index}")
    with open(out) as f:
        probe = json.load(f)
    first_back = min(back.values()) if back else None
    return {"outage_ms": probe["max_gap_ms"],
            "failed": probe["failed"], "sent": probe["sent"],
            "backends_listening_ms": {n: round(1000 * (t - t_kill)) for n, t in back.items()},
            "front_added_ms": round(1000 * (probe["gap_end"] - first_back)) if first_back else None,
            "failed_by_reason": probe["failed_by_reason"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--restart-sec", type=float, default=shipped_restart_sec(),
                   help="RestartSec (default: systemd/bingo.service's)")
    p.add_argument("--check-interval-ms", type=int, default=500,
                   help="vipd's check interval (the Ansible template's: 500); rise and fall 2 as there")
    p.add_argument("--debounce-ms", type=int, default=200, help="vipd's nginx debounce (the template's: 200)")
    p.add_argument("--out", help="write the JSON here too")
    args = p.parse_args()
    runs = []
    with Lab(check_interval_ms=args.check_interval_ms, debounce_ms=args.debounce_ms) as lab:
        lab.start_all(knobs=("--init-fail-fast", "2"))
        lab.wait_master("a", 20)
        lab.wait_for(lambda: all(not lab.marked_down(n) for n in lab.nodes), 20, "both backends up")
        for i in range(args.runs):
            r = run_once(lab, i, args.restart_sec)
            say(f"run {i + 1}: outage {r['outage_ms']:.0f} ms, {r['failed']} of {r['sent']} failed, backends "
                f"listening after {r['backends_listening_ms']} ms, front added {r['front_added_ms']} ms", "both-die")
            runs.append(r)
    result = {"name": "both-backends-die", "restart_sec": args.restart_sec,
              "check_interval_ms": args.check_interval_ms, "debounce_ms": args.debounce_ms, "runs": runs,
              "median_outage_ms": statistics.median(r["outage_ms"] for r in runs),
              "median_front_added_ms": statistics.median(r["front_added_ms"] for r in runs
                                                         if r["front_added_ms"] is not None)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
