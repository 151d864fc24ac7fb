#!/usr/bin/env python3
"""Benchmark "interop": client outage when the master of a mixed VRRPv3 router dies.

One virtual router (VRID 51, the lab's VIP, 100 ms adverts, unicast VRRPv3) on
nodes A (priority 150) and B (100), each running either vipd (`protocol: vrrp3`)
or Debian's keepalived 2.2.7. The client probes the VIP every 5 ms (lab/probe.py);
A is hard-killed (link down and its daemon SIGKILLed at the same moment) at a
random phase of the advert cycle; the outage is the longest gap between replies.
Four pairings, master -> backup: keepalived -> keepalived (the reference),
vipd -> keepalived, keepalived -> vipd, vipd -> vipd. The goal (issue "Speak
VRRPv3"): each mixed pairing within one advert interval of the reference.

Then "migration": a two-node keepalived cluster under client load becomes a
two-node vipd cluster one node at a time, as docs/migrating-from-keepalived.md
says: on the master A, `vipd import-keepalived` of its keepalived.conf, keepalived
stopped (it resigns, B's keepalived takes over), vipd started (it preempts B);
then the same on the backup B. Measured: the longest client gap over
the whole migration, and the moments (5 ms samples) with two holders of the VIP.

Then "auth" (interop-auth): the same four pairings with auth_hmac on both
sides, against keepalived 2.4.3 built from ../shared/third_party
(lab/vlab/keepalived_source.py; cached between runs), and the three attacks
of Tests/lab/test_vrrp3_hmac.py (a replayed capture, a forgery with the wrong
key, an unsigned advert, from A's address) sent to each daemon as backup:
how many each counted (vipd's drop counters, keepalived's log lines), and
whether either believed one (a takeover). --no-auth skips it.

Usage (root):  python3 lab/bench_interop.py [--runs 5] [--no-auth] [--out bench/interop.json]
Prints every outage and the medians on stderr; writes
{"name": "interop", "advert_interval_ms": 100, "pairs": [{"master", "backup", "outage_ms": [...], "median_ms"}],
 "migration": {"max_gap_ms", "two_holder_samples", "two_holder_ms", "steps": [...]},
 "auth": {"keepalived": "2.4.3", "pairs": [...], "attacks": {"vipd": {...}, "keepalived": {...}}}}.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vlab import Lab, LabError  # noqa: E402
from vlab.util import say as lab_say, sh  # noqa: E402
from vlab import vrrp3_auth as auth  # noqa: E402
from vlab.vrrp3 import INTERVAL_MS, VIP, election, ka_log, ka_pids, start_keepalived  # noqa: E402

PRIORITY = {"a": 150, "b": 100}
# The master first: its keepalived resigns (B's keepalived takes over after
# Skew_Time), its vipd preempts B's keepalived, which drops the VIP at once; then
# the backup. The other order ends with B's vipd yielding to A's, and a vipd that
# yields keeps the VIP for its 250 ms drain (docs/protocol.md): two holders.
ORDER = ("a", "b")
PAIRS = [("keepalived", "keepalived"), ("vipd", "keepalived"), ("keepalived", "vipd"), ("vipd", "vipd")]


def say(text):
    lab_say(text, "bench")


def start(lab, node, daemon, signed=None):
    """SIGNED: keepalived 2.4.3's binary, for auth_hmac on both daemons."""
    if daemon == "vipd":
        lab.start_vipd(node, election=auth.election(lab, PRIORITY[node]) if signed else election(PRIORITY[node], False))
    elif signed:
        auth.start_keepalived(lab, signed, node, PRIORITY[node])
    else:
        start_keepalived(lab, node, PRIORITY[node], False)


def stop(lab, node, daemon):
    if daemon == "vipd":
        if lab.vipd_running(node):
            lab.stop_vipd(node)
    else:
        for pid in ka_pids(lab, node):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        lab.stop(f"ka-{node}", timeout=5)
    drop_vip(lab, node)


def drop_vip(lab, node):
    """What a killed daemon left on NODE's interface (a new vipd removes it itself; keepalived does not)."""
    sh("ip", "-n", lab.ns(node), "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)


def a_is_master(lab, master):
    if lab.holders(VIP) != ["a"]:
        return False
    return lab.state("a") == "master" if master == "vipd" else True


def one_run(lab, index, master, backup, signed=None):
    start(lab, "a", master, signed)
    lab.wait_for(lambda: a_is_master(lab, master), 10, what="A sole master", interval=0.05)
    name = f"probe-{master}-{backup}-{index}"
    stopfile, out, ready = (os.path.join(lab.dir, f"{name}.{x}") for x in ("stop", "json", "ready"))
    lab.python("c", "probe.py", "--stop-file", stopfile, "--out", out, "--ready-file", ready, "--max-duration", 60,
               name=name)
    lab.wait_for(lambda: os.path.exists(ready), 10, what="probe's first reply", interval=0.05)
    time.sleep(1.0 + random.uniform(0, INTERVAL_MS / 1000))
    pids = [lab.vipd_pid("a")] if master == "vipd" else ka_pids(lab, "a")
    t_kill, t_down = lab.kill_hard("a", pids=pids)
    lab.wait_for(lambda: "b" in lab.holders(VIP), 10, interval=0.02, what="B to take over")
    time.sleep(1.0)
    open(stopfile, "w").close()
    lab.wait_for(lambda: os.path.exists(out), 10, what="probe result", interval=0.05)
    lab.stop(name, timeout=5)
    with open(out) as f:
        result = json.load(f)
    straddles = (result["gap_start"] is not None
                 and result["gap_start"] <= t_down + 0.002 and t_kill - 0.002 <= result["gap_end"])
    if not straddles or result["tail_gap_ms"] > 100:
        raise LabError(f"{master}->{backup} run {index}: the longest gap does not span the kill: {result}")
    # Back: A's link up, its killed daemon's leftover VIP removed by the next start.
    lab.link_up("a")
    if master == "keepalived":
        lab.stop("ka-a", timeout=5)
    drop_vip(lab, "a")
    return round(result["max_gap_ms"], 1)


def imported(lab, node):
    """NODE's keepalived.conf (as start_keepalived wrote it) through `vipd import-keepalived`."""
    other = "b" if node == "a" else "a"
    out = subprocess.run([f"{lab.dir}/bin/vipd", "import-keepalived", "--node-id", f"node-{node}",
                          "--peer", f"node-{other}={lab.addr(other)}", "--key-file", lab.key,
                          os.path.join(lab.dir, f"ka-{node}", "keepalived.conf")],
                         capture_output=True, text=True, timeout=30)
    # Exit 2: something was refused (here keepalived's ARP tuning, which vipd has
    # no knob for); the YAML is still complete for what maps.
    if out.returncode not in (0, 2):
        raise LabError(f"import-keepalived on {node} ({out.returncode}): {out.stderr}")
    if out.stderr:
        say(f"import-keepalived on {node}: {out.stderr.strip()}")
    return out.stdout + f"control:\n  socket: {lab.socket(node)}\nstate_dir: {lab.dir}/state-{node}\n"


def migration(lab):
    """The cut-over of both nodes under a 5 ms ping, sampling the VIP's holders."""
    texts = {}
    lab.vipd_config = lambda node, *args, **kwargs: texts[node]  # the lab writes this as NODE's vipd.yaml
    start_keepalived(lab, "a", PRIORITY["a"], False)
    start_keepalived(lab, "b", PRIORITY["b"], False)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"], 10, what="keepalived A master")
    samples, doubles, running = [0], [0], [True]
    began = time.time()

    def sample():
        while running[0]:
            samples[0] += 1
            if len(lab.holders(VIP)) > 1:
                doubles[0] += 1
            time.sleep(0.005)
    sampler = threading.Thread(target=sample, daemon=True)
    stopfile, out, ready = (os.path.join(lab.dir, f"probe-migration.{x}") for x in ("stop", "json", "ready"))
    lab.python("c", "probe.py", "--stop-file", stopfile, "--out", out, "--ready-file", ready, "--max-duration", 120,
               "--report-gap-ms", 20, name="probe-migration")
    lab.wait_for(lambda: os.path.exists(ready), 10, what="probe's first reply", interval=0.05)
    sampler.start()
    steps = []
    for node in ORDER:
        texts[node] = imported(lab, node)
        t = time.time()
        os.kill(ka_pids(lab, node)[-1], signal.SIGTERM)  # the parent; its VRRP child resigns if master
        lab.wait_for(lambda: not ka_pids_alive(lab, node), 10, what=f"keepalived on {node} gone", interval=0.01)
        lab.start_vipd(node)
        steps.append({"node": node, "keepalived_stopped_at": t, "vipd_started_at": time.time()})
        lab.wait_for(lambda: lab.state(node) in ("master", "backup"), 10, what=f"vipd on {node} running")
        time.sleep(2.0)
    lab.wait_for(lambda: lab.holders(VIP) == ["a"] and lab.state("a") == "master", 10, what="vipd A master")
    time.sleep(1.0)
    running[0] = False
    sampler.join()
    period_ms = 1000 * (time.time() - began) / max(samples[0], 1)
    open(stopfile, "w").close()
    lab.wait_for(lambda: os.path.exists(out), 10, what="probe result", interval=0.05)
    lab.stop("probe-migration", timeout=5)
    with open(out) as f:
        result = json.load(f)
    return {"max_gap_ms": result["max_gap_ms"], "gaps_over_20ms": result.get("gaps_over_ms"),
            "sent": result["sent"], "received": result["received"], "holder_samples": samples[0],
            "two_holder_samples": doubles[0], "sample_period_ms": round(period_ms, 1), "steps": steps}


def pairs_run(lab, runs, signed=None):
    pairs = []
    for master, backup in PAIRS:
        start(lab, "b", backup, signed)
        outages = []
        for i in range(1, runs + 1):
            outage = one_run(lab, i, master, backup, signed)
            outages.append(outage)
            say(f"{master} -> {backup}{' (auth_hmac)' if signed else ''} run {i}: outage {outage:.1f} ms")
        stop(lab, "b", backup)
        median = statistics.median(outages)
        say(f"{master} -> {backup}: outages {outages} ms, median {median:.1f} ms")
        pairs.append({"master": master, "backup": backup, "outage_ms": outages, "median_ms": median})
    reference = pairs[0]["median_ms"]
    for pair in pairs[1:]:
        pair["minus_keepalived_ms"] = round(pair["median_ms"] - reference, 1)
        pair["within_one_interval"] = abs(pair["median_ms"] - reference) <= INTERVAL_MS
    return pairs


def attacked(lab, signed, backup):
    """A master (the other daemon) on A, BACKUP on B; A's advert captured on B
    and sent back with the forgery and the unsigned one, claiming a priority
    that would make B act (255 to vipd: take over; 0 to keepalived: resign)."""
    master = "keepalived" if backup == "vipd" else "vipd"
    start(lab, "a", master, signed)
    start(lab, "b", backup, signed)
    lab.wait_for(lambda: a_is_master(lab, master) and (backup != "vipd" or lab.status("b").get("master") == "node-a"),
                 10, what=f"{master} on A master, {backup} on B following it", interval=0.05)
    time.sleep(0.5)
    captured = auth.raw(lab, "b", "capture", lab.addr("a"), "3")
    before = dict(lab.status("b")["counters"]["dropped"]) if backup == "vipd" else None
    log_from = len(ka_log(lab, "b"))   # ka-b.log holds every earlier start too
    auth.raw(lab, "a", "send", *auth.attacks(lab, 255 if backup == "vipd" else 0, captured))
    time.sleep(1.0)
    if backup == "vipd":
        now = lab.status("b")["counters"]["dropped"]
        counted = {k: now[k] - before[k] for k in auth.VIPD_DROPS}
        believed = lab.state("b") != "backup" or lab.status("b").get("master") != "node-a"
    else:
        text = ka_log(lab, "b")[log_from:]
        counted = {line.split(" from")[0]: text.count(line.format(a=lab.addr("a")))
                   for line in auth.KEEPALIVED_REFUSALS}
        believed = "Entering MASTER STATE" in text
    believed = believed or lab.holders(VIP) != ["a"]
    stop(lab, "a", master)
    stop(lab, "b", backup)
    lab.link_up("a")
    return {"master": master, "counted": counted, "all_counted": all(v >= 1 for v in counted.values()),
            "believed_one": believed}


def auth_run(runs):
    from vlab.keepalived_source import build
    signed = build()
    lab = Lab(interval_ms=INTERVAL_MS)
    try:
        lab.up()
        auth.key_file(lab)
        pairs = pairs_run(lab, runs, signed)
        attacks = {backup: attacked(lab, signed, backup) for backup in ("vipd", "keepalived")}
        for backup, a in attacks.items():
            say(f"attacks on {backup} as backup: counted {a['counted']}, believed one: {a['believed_one']}")
        return {"keepalived": "2.4.3", "pairs": pairs, "attacks": attacks}
    finally:
        lab.close(keep=os.environ.get("LAB_KEEP") == "1")


def ka_pids_alive(lab, node):
    alive = []
    for pid in ka_pids(lab, node):
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


def _sigterm(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", help="write the JSON object here (default: stdout)")
    p.add_argument("--no-auth", action="store_true", help="skip the auth_hmac pairs (keepalived 2.4.3 build)")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    signal.signal(signal.SIGTERM, _sigterm)
    lab = Lab(interval_ms=INTERVAL_MS)
    ok = False
    try:
        lab.up()
        pairs = pairs_run(lab, args.runs)
        lab.close()
        lab = Lab(interval_ms=INTERVAL_MS)
        lab.up()
        moved = migration(lab)
        say(f"migration: longest client gap {moved['max_gap_ms']:.1f} ms; {moved['two_holder_samples']} of "
            f"{moved['holder_samples']} samples (one per {moved['sample_period_ms']} ms) with two holders; gaps over 20 ms: {moved['gaps_over_20ms']}")
        doc = {"name": "interop", "advert_interval_ms": INTERVAL_MS, "runs": args.runs, "pairs": pairs,
               "migration": moved}
        if not args.no_auth:
            lab.close()
            doc["auth"] = auth_run(args.runs)
        text = json.dumps(doc, indent=1)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        else:
            print(text, flush=True)
        ok = True
    finally:
        keep = os.environ.get("LAB_KEEP") == "1" or not ok
        if keep and lab.dir:
            say(f"keeping {lab.dir}")
        lab.close(keep=keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
