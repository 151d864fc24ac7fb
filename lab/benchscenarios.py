"""The scenarios of lab/bench.py, one run each: a fault of the master with both
probes running (hard kill, graceful stop, planned failover, link down), CPU
starvation, and the 120 requests/s load run; plus the lab and probe plumbing
they share (also used by benchinstances.py). Each lab is a vlab.Lab (nodes a,
b; client c)."""

import json
import os
import random
import re
import time

from benchdaemons import at_us
from benchmeasure import (first_resignation_after, last_advert_before, phased_kill_time, start_advert_capture,
                          target_phase_ms)
from vlab import VIP, Lab, LabError

LOAD_PATHS = "/db_dummy,/api/movie/{id},/api/customer/{id},/api/session/{id}"


def open_lab(daemon, interval_ms, baseline=None, **lab_options):
    """A lab (LAB_OPTIONS for vlab.Lab) with nginx and DAEMON on A and B, in its
    baseline: BASELINE(lab, daemon) (default wait_baseline) returned."""
    lab = Lab(interval_ms=interval_ms, **lab_options)
    try:
        lab.up()
        lab.start_http("a")
        lab.start_http("b")
        daemon.start(lab, "a")
        daemon.start(lab, "b")
        (baseline or wait_baseline)(lab, daemon)
    except BaseException:
        lab.close(keep=True)
        raise
    return lab


def wait_baseline(lab, daemon, timeout=30, vip=VIP, dev="eth0"):
    lab.wait_for(lambda: lab.holders(vip, dev) == ["a"] and daemon.state(lab, "a") == "master"
                 and daemon.state(lab, "b") == "backup", timeout, interval=0.05,
                 what=f"{daemon.name}: A sole master, B backup")


def start_probes(lab, tag, max_duration=300, address=VIP):
    """The ICMP and the HTTP probe of ADDRESS in the client, each every 10 ms, once both have an answer."""
    files = {}
    for kind, script in (("icmp", "probe.py"), ("http", "httpprobe.py")):
        name = f"{kind}-{tag}"
        stop, out, ready = (os.path.join(lab.dir, f"{name}.{x}") for x in ("stop", "json", "ready"))
        lab.python("c", script, "--interval", "0.01", "--stop-file", stop, "--out", out, "--ready-file", ready,
                   "--max-duration", max_duration, address, name=name)
        files[kind] = (name, stop, out, ready)
    for kind, (name, stop, out, ready) in files.items():
        lab.wait_for(lambda: os.path.exists(ready), 15, what=f"{kind} probe's first answer", interval=0.05)
    return files


def stop_probes(lab, files):
    for name, stop, out, ready in files.values():
        open(stop, "w").close()
    results = {}
    for kind, (name, stop, out, ready) in files.items():
        lab.wait_for(lambda: os.path.exists(out), 30, what=f"{kind} probe result", interval=0.05)
        lab.stop(name, timeout=5)
        with open(out) as f:
            results[kind] = json.load(f)
    return results


def count_transitions(daemon, text):
    return len(daemon.transition_re.findall(text))


def outage_detail(res, t_fault, last_adv, tag):
    """What the probes (stop_probes' RES) saw of a fault at T_FAULT (epoch s): the
    outage (longest gap between HTTP successes) and its parts. LAST_ADV: when the
    peer received the faulted master's last advert (start_advert_capture), or None.
    LabError if the client was not served again by the end."""
    http, icmp = res["http"], res["icmp"]
    if http["tail_gap_ms"] is None or http["tail_gap_ms"] > 500:
        raise LabError(f"{tag}: the client was not served at the end: {http}")
    covers = (http["gap_start"] is not None and http["gap_start"] <= t_fault + 0.05 and http["gap_end"] >= t_fault)
    return {
        "outage_ms": http["max_gap_ms"], "icmp_outage_ms": icmp["max_gap_ms"],
        "failed_requests": http["failed"], "failed_by_reason": http["failed_by_reason"],
        "total_requests": http["sent"], "p90_ms": http["latency_ms"]["p90"],
        "icmp_sent": icmp["sent"], "icmp_received": icmp["received"],
        "gap_covers_fault": covers,
        "fault_to_first_ok_ms": round((http["gap_end"] - t_fault) * 1000, 1) if covers else None,
        # Phase-free: from the last advert the peer received to the client's first answer after the fault.
        "after_last_advert_ms": (round((http["gap_end"] - last_adv) * 1000, 1) if (last_adv and covers) else None),
        "kill_phase_ms": round((t_fault - last_adv) * 1000, 1) if last_adv else None,
        "http_tail_gap_ms": http["tail_gap_ms"], "served_by": http["served_by"],
    }


def fault_run(lab, daemon, scenario, interval_ms, index, of_runs=5, vip=VIP, dev="eth0"):
    """One fault of the master A with both probes of VIP running. link-down: A's DEV
    (the VIP's interface, default eth0) loses carrier, its daemon alive."""
    tag = f"{scenario}-{index}"
    files = start_probes(lab, tag, address=vip)
    capture = start_advert_capture(lab, tag) if scenario in ("hard-kill", "link-down") else None
    time.sleep(1.0 + random.uniform(0, interval_ms / 1000))
    marks = {n: len(lab.log(n)) for n in ("a", "b")}
    t_fault = time.time()
    t_action_end = None
    t_down = None
    if capture:
        # Paired phases: run k of n kills (k - 0.5) / n of an interval after A's
        # last advert, for every daemon alike, so their medians compare the
        # daemons and not the luck of five random draws (the outage is
        # Master_Down_Interval minus that phase). The same for a lost carrier:
        # when A can send nothing more, B waits out the same timer.
        at = phased_kill_time(capture[1], interval_ms, target_phase_ms(index, of_runs, interval_ms))
        if scenario == "hard-kill":
            t_fault, t_down = daemon.kill_hard(lab, "a", at=at)
        else:
            t_fault, t_down = lab.pull_cable("a", dev, at_us(at))
    elif scenario == "graceful-stop":
        daemon.stop(lab, "a")
    elif scenario == "planned-failover":
        daemon.planned(lab)
        t_action_end = time.time()
    lab.wait_for(lambda: "b" in lab.holders(vip, dev) and daemon.state(lab, "b") == "master",
                 15 + 10 * interval_ms / 1000, interval=0.02, what=f"{daemon.name}: B to take over")
    if scenario != "hard-kill":
        lab.wait_for(lambda: lab.holders(vip, dev) == ["b"], 10, interval=0.02, what="A to release the VIP")
    t_takeover = time.time()
    time.sleep(1.0)
    res = stop_probes(lab, files)
    logs = {n: lab.log(n)[marks[n]:] for n in ("a", "b")}
    last_adv = last_advert_before(lab, *capture, t_down) if capture else None
    detail = {
        "run": index, **outage_detail(res, t_fault, last_adv, tag),
        "takeover_seen_after_ms": round((t_takeover - t_fault) * 1000, 1),
        "action_ms": round((t_action_end - t_fault) * 1000, 1) if t_action_end else None,
        "transitions": {n: count_transitions(daemon, logs[n]) for n in logs},
    }
    if scenario == "link-down":
        # Did A's priority-0 resignation reach B (it cannot when the lost link carries the heartbeats)?
        resigned = first_resignation_after(capture[1], t_fault)
        detail["resignation_ms"] = round((resigned - t_fault) * 1000, 1) if resigned else None
        detail["resignation_to_first_ok_ms"] = (round((res["http"]["gap_end"] - resigned) * 1000, 1)
                                                if resigned and detail["gap_covers_fault"] else None)
    # Back to the baseline.
    if scenario == "hard-kill":
        lab.reboot_link("a")  # A "rebooted"
        daemon.start(lab, "a")
    elif scenario == "graceful-stop":
        daemon.start(lab, "a")
    elif scenario == "link-down":
        lab.link_up("a", dev)
    else:
        daemon.unplan(lab)
    wait_baseline(lab, daemon, 30, vip, dev)
    return detail


def starvation_run(lab, daemon, seconds, index):
    tag = f"starve-{index}"
    files = start_probes(lab, tag, max_duration=seconds + 120)
    time.sleep(1.0)
    marks = {n: len(lab.log(n)) for n in ("a", "b")}
    load_before = os.getloadavg()[0]
    lab.start_stress(seconds)
    t0 = time.time()
    lab.wait_for(lambda: not lab.running("stress"), seconds + 30, interval=0.5, what="stress-ng to finish")
    lab.stop_stress()
    t1 = time.time()
    time.sleep(1.0)
    res = stop_probes(lab, files)
    http, icmp = res["http"], res["icmp"]
    logs = {n: lab.log(n)[marks[n]:] for n in ("a", "b")}
    spurious = sum(count_transitions(daemon, t) for t in logs.values())
    lost_lines = sum(len(re.findall(r"peer \S+ lost", t)) for t in logs.values())
    stress_out = lab.log("stress")[-600:]
    detail = {
        "run": index, "seconds": round(t1 - t0, 1), "spurious_transitions": spurious,
        "transition_lines": [l for t in logs.values() for l in t.splitlines() if daemon.transition_re.search(l)][:20],
        "peer_lost_lines": lost_lines,
        "outage_ms": http["max_gap_ms"], "icmp_outage_ms": icmp["max_gap_ms"],
        "failed_requests": http["failed"], "failed_by_reason": http["failed_by_reason"],
        "total_requests": http["sent"], "p90_ms": http["latency_ms"]["p90"],
        "icmp_sent": icmp["sent"], "icmp_received": icmp["received"], "served_by": http["served_by"],
        "stress_tail": stress_out,
        # Other work on the machine shows as less CPU for stress-ng (it gets ~2 x seconds alone).
        "stress_cpu_seconds": _stress_cpu_seconds(stress_out), "loadavg_before": round(load_before, 2),
    }
    wait_baseline(lab, daemon, 30)
    return detail


def load_run(daemon, seconds, kill_at, rps=120):
    """Both nodes with the bingo stand-in and the project's nginx site; the client sends `rps` new-connection
    GETs per second (the four non-cached item endpoints in turn) for `seconds`; the master A is hard-killed
    at `kill_at` s."""
    lab = Lab(interval_ms=100)
    ok = False
    try:
        lab.up()
        for n in ("a", "b"):
            # Port 30164, --no-db, --lifetime never, and the throttle off: after A's
            # death B's stand-in alone gets all 120 RPS, which the real bingo (100 RPS)
            # cannot carry. This scenario measures the failover; the acceptance suite
            # (docs/acceptance.md) measures what the throttle does to the service.
            lab.start_bingo(n, control=False, knobs=("--rps-limit", "0"))
        for n in ("a", "b"):
            lab.start_front(n)   # not managed by the daemon (benchdaemons.Vipd: front=False)
        daemon.start(lab, "a")
        daemon.start(lab, "b")
        wait_baseline(lab, daemon, 30)
        out, ready = (os.path.join(lab.dir, f"load.{x}") for x in ("json", "ready"))
        lab.python("c", "httpprobe.py", "--interval", f"{1 / rps:.6f}", "--timeout", "10", "--duration", seconds,
                   "--paths", LOAD_PATHS, "--out", out, "--ready-file", ready, VIP, name="load")
        t0 = time.time()
        lab.wait_for(lambda: os.path.exists(ready), 15, what="load's first answer", interval=0.05)
        time.sleep(max(0.0, kill_at - (time.time() - t0)))
        t_kill, _ = daemon.kill_hard(lab, "a")
        lab.wait_for(lambda: "b" in lab.holders() and daemon.state(lab, "b") == "master", 15, interval=0.05,
                     what="B to take over")
        lab.wait_for(lambda: os.path.exists(out), seconds + 60, interval=0.5, what="load result")
        lab.stop("load", timeout=5)
        with open(out) as f:
            r = json.load(f)
        detail = {"outage_ms": r["max_gap_ms"], "failed_requests": r["failed"], "total_requests": r["sent"],
                  "p90_ms": r["latency_ms"]["p90"], "latency_ms": r["latency_ms"],
                  "failed_by_reason": r["failed_by_reason"], "served_by": r["served_by"],
                  "gap_at_s_after_kill": round(r["gap_start"] - t_kill, 3) if r["gap_start"] else None,
                  "failures_first": r["failures"][:10]}
        ok = True
        return detail
    finally:
        lab.close(keep=os.environ.get("LAB_KEEP") == "1" or not ok)


def _stress_cpu_seconds(text):
    m = re.search(r"cpu\s+\d+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)", text)
    return round(float(m.group(1)) + float(m.group(2)), 1) if m else None
