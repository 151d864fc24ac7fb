#!/usr/bin/env python3
"""Benchmark "load-120rps-backend-crash": 60 s at 120 requests/s through the
VIP, mixed bingo endpoints, node A's bingo stand-in crashing at 30 s.

The namespace lab (lab/vlab) with the front on both nodes: nginx (the
shipped site), the bingo stand-in and vipd, with the checks of conf/vipd.example.yaml
(500 ms interval, 400 ms timeout, rise 2, fall 2; 100 ms adverts; 200 ms
debounce). The stand-ins throttle at 100 RPS each, as bingo does. At 30 s A's
stand-in is told to crash (it exits at once, like an OOM kill); a supervisor
restarts it 1 s later, as systemd's Restart=always would, and it takes 3 s
to start listening (bingo with 8.8.8.8 blackholed takes a few seconds).

Measured by lab/front_client.py in the client namespace (open loop,
new connection per request, 10 s timeout): failed requests (connection
errors, timeouts, non-2xx; DELETE may be 404), and p90 latency of the
endpoints that must answer within 400 ms (POST /operation, GET /db_dummy,
GET /api/{movie,customer,session}/{id}). "spurious_transitions" counts
election transitions during the run: a backend crash must not move the VIP.

Usage (root):  python3 lab/bench_backend_crash.py [--runs 1] [--out bench/results.json]
Env: BIN_DIR (default <repo>/.build/debug), LAB_KEEP=1.
Merges its scenario into the results file of /work/shared/design.md
(replacing an earlier entry of the same name) and prints it on stdout.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)
sys.path.insert(0, LAB_DIR)
from vlab import Lab, LabError  # noqa: E402
from vlab.util import say as lab_say  # noqa: E402

NAME = "load-120rps-backend-crash"
ADVERT_MS = 100
THROTTLE = ("--rps-limit", "100")   # as bingo does (the stand-in's default, said here)


def say(text):
    lab_say(text, "bench")


def transitions(lab):
    return sum(lab.status(node)["counters"]["transitions"] for node in ("a", "b"))


def one_run(index, rate, duration, crash_at, restart_after, start_delay):
    lab = Lab(check_interval_ms=500, rise=2, fall=2, debounce_ms=200, interval_ms=ADVERT_MS)
    ok = False
    try:
        lab.up()
        for node in ("a", "b"):
            lab.start_bingo(node, knobs=THROTTLE)
            lab.start_front(node)
        for node in ("a", "b"):
            lab.start_vipd(node)
        lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("b") == "backup", 20, "A master")
        lab.wait_for(lambda: not lab.marked_down("a") and not lab.marked_down("b"), 20, "both backends up")
        time.sleep(1)
        before = transitions(lab)
        out = os.path.join(lab.dir, f"client-{index}.json")
        lab.python("c", "front_client.py", "--rate", rate, "--duration", duration, "--mix", "bingo",
                   "--timeout", "10", "--out", out, name="client")
        t0 = time.monotonic()
        time.sleep(max(0, crash_at - (time.monotonic() - t0)))
        say(f"run {index}: crashing A's stand-in at {time.monotonic() - t0:.1f}s")
        try:
            lab.bingo_control("a", "crash")
        except LabError:
            pass  # it may exit before answering
        crash_time = time.monotonic()
        lab.wait_for(lambda: not lab.running("bingo-a"), 5, "A's stand-in to exit")
        # Watch both upstream files while the supervisor restarts the stand-in.
        # The same stand-in as the lab's, its start-up (no route to 8.8.8.8
        # in the namespace: the short one) set to the restart time measured here.
        knobs = THROTTLE + ("--init-fail-fast", str(start_delay))
        down_seen = back_seen = None
        restarted = False
        while time.monotonic() - crash_time < restart_after + start_delay + 10 and back_seen is None:
            now = time.monotonic()
            if not restarted and now - crash_time >= restart_after:
                lab.start_bingo("a", knobs=knobs, wait=False)
                restarted = True
            marked = ("node-a" in lab.marked_down("a"), "node-a" in lab.marked_down("b"))
            if down_seen is None and all(marked):
                down_seen = now
            if down_seen is not None and not any(marked):
                back_seen = now
            time.sleep(0.01)
        if down_seen is None or back_seen is None:
            raise LabError(f"A's backend was not marked down and back (down {down_seen}, back {back_seen})\n{lab.diag()}")
        say(f"run {index}: A's backend marked down on both fronts {down_seen - crash_time:.2f}s after the crash, "
            f"back {back_seen - crash_time:.2f}s after it")
        lab.wait_for(lambda: os.path.exists(out), duration + 30, "the client's result")
        after = transitions(lab)
        with open(out) as f:
            result = json.load(f)
        say(f"run {index}: {result['failed']}/{result['total']} failed ({result['failed_percent']}%), "
            f"non-cached p90 {result['non_cached_p90_ms']} ms, reasons {result['failure_reasons']}")
        ok = True
        return {
            "failed": result["failed"], "total": result["total"], "p90": result["non_cached_p90_ms"],
            "transitions": after - before,
            "marked_down_after_s": round(down_seen - crash_time, 2),
            "back_after_s": round(back_seen - crash_time, 2),
            "endpoints": result["endpoints"], "failure_reasons": result["failure_reasons"],
            "first_failures": result["first_failures"][:10],
        }
    finally:
        lab.close(keep=not ok)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--rate", type=float, default=120)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--crash-at", type=float, default=30)
    p.add_argument("--restart-after", type=float, default=1.0, help="supervisor delay before restarting (s)")
    p.add_argument("--start-delay", type=float, default=3.0, help="the restarted stand-in's start-up time (s)")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "results.json"))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")

    runs = [one_run(i, args.rate, args.duration, args.crash_at, args.restart_after, args.start_delay)
            for i in range(args.runs)]
    scenario = {
        "name": NAME, "daemon": "vipd", "advert_interval_ms": ADVERT_MS,
        "failed_requests": [r["failed"] for r in runs], "total_requests": [r["total"] for r in runs],
        "p90_ms": [r["p90"] for r in runs], "spurious_transitions": [r["transitions"] for r in runs],
        "failed_percent": [round(100 * r["failed"] / r["total"], 3) for r in runs],
        "marked_down_after_s": [r["marked_down_after_s"] for r in runs],
        "back_after_s": [r["back_after_s"] for r in runs],
        "detail": [{k: r[k] for k in ("failure_reasons", "endpoints", "first_failures")} for r in runs],
    }
    results = {"machine": platform.node(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "scenarios": [], "idle": []}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
        results["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results["scenarios"] = [s for s in results.get("scenarios", []) if s.get("name") != NAME] + [scenario]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(json.dumps({k: v for k, v in scenario.items() if k != "detail"}))


if __name__ == "__main__":
    main()
