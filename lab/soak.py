#!/usr/bin/env python3
"""`make soak`: bounded chaos soak of vipd in the namespace lab.

Two vipd nodes (A priority 150, B priority 100, advert interval $INTERVAL,
default 100 ms), nginx on :80 on each node answering its node name, and a
client sending one new-connection HTTP request to the VIP every 10 ms for the
whole run (lab/httpprobe.py). Every few seconds one random fault:

  hard-kill    the master's switch port down + SIGKILL of its vipd; after 1-3 s
               the node "reboots": leftover VIP removed, link up, vipd started
  crash        SIGKILL of the master's vipd only (link up, VIP left behind);
               restarted after 0.5-2 s (vipd removes the leftover at start)
  sigterm      SIGTERM to the master's vipd; restarted after 0.5-2 s
  kill-backup  SIGTERM to the backup's vipd; restarted after 0.5-2 s
  failover     `vipctl failover` on the master (planned handover)
  partition    heartbeats only (UDP 5798) dropped between the nodes in the
               switch (nftables bridge filter in the switch namespace) for
               1-3 s, then healed; the nodes see no local error
  local-drop   heartbeats dropped by a firewall on one node itself (nftables
               input + output in its namespace: its sendmsg gets EPERM) for
               1-3 s, then healed
  maintenance  `vipctl maintenance on` on the master for 1-2 s, then off
  cpu-burst    stress-ng on every core for 3 s

After each fault has been healed (the network quiet again: links up, filters
gone, daemons running), the soak checks that within 1 s exactly one node holds
the VIP, that node's vipd reports master and the other's backup, and the
client's request to the VIP is answered by that node's front. A miss is a
violation (printed with both logs' tails); the soak then waits up to 10 s for
convergence before the next fault and, if it never comes, restarts both
daemons (noted in the violation) and goes on.

Usage (root): python3 lab/soak.py [--seconds 600] [--seed N] [--faults a,b] [--out FILE]
Env: SOAK_SECONDS (default 600), SOAK_SEED, SOAK_FAULTS, INTERVAL, BIN_DIR, LAB_KEEP=1.
Prints a summary and writes JSON (default bench/soak.json). Exit 0 when there
was no violation (failed client requests are reported, not judged: a hard kill
costs requests by nature).
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)
sys.path.insert(0, LAB_DIR)
from vlab import VIP, Lab, interval_ms  # noqa: E402
from vlab.util import need_packages, say as lab_say  # noqa: E402

FAULTS = ["hard-kill", "crash", "sigterm", "kill-backup", "failover", "partition", "local-drop", "maintenance",
          "cpu-burst"]
CONVERGE_S = 1.0


def say(text):
    lab_say(text, "soak")


class Soak:
    def __init__(self, lab, rng):
        self.lab, self.rng = lab, rng
        self.violations = []
        self.counts = {}
        self.log = []

    # --- observation -----------------------------------------------------------
    def states(self):
        return {n: self.lab.state(n) for n in ("a", "b")}

    def served_by(self):
        status, body = self.lab.curl("c", f"http://{VIP}/", timeout=0.5)
        return body.strip() if status == 200 else None

    def converged(self):
        holders = self.lab.holders()
        if len(holders) != 1:
            return None, f"holders {holders}"
        h = holders[0]
        other = "b" if h == "a" else "a"
        st = self.states()
        if st[h] != "master" or st[other] != "backup":
            return None, f"holder {h}, states {st}"
        served = self.served_by()
        if served != h:
            return None, f"holder {h}, client served by {served!r}"
        return h, "ok"

    def check(self, fault, t_quiet):
        """Exactly one holder, master/backup, client served by it, within CONVERGE_S of t_quiet."""
        last = "?"
        while True:
            holder, last = self.converged()
            now = time.monotonic()
            if holder:
                took = (now - t_quiet) * 1000
                if now - t_quiet <= CONVERGE_S:
                    return holder, round(took)
                break
            if now - t_quiet > CONVERGE_S:
                break
            time.sleep(0.02)
        took = round((time.monotonic() - t_quiet) * 1000)
        tails = {n: self.lab.log(n).splitlines()[-12:] for n in ("a", "b")}
        self.violations.append({"fault": fault, "after_ms": took, "state": last, "logs": tails, "at": time.time()})
        say(f"VIOLATION after {fault}: not converged within {CONVERGE_S} s of quiet ({last})")
        for n, t in tails.items():
            say(f"  {n}.log: " + "\n    ".join(t))
        # Give it more time before the next fault; if it never converges, restart both daemons
        # (recorded in the violation) and go on, so one bug does not end the soak.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            holder, last = self.converged()
            if holder:
                self.violations[-1]["converged_after_ms"] = round((time.monotonic() - t_quiet) * 1000)
                say(f"  converged after {self.violations[-1]['converged_after_ms']} ms: {holder}")
                return holder, None
            time.sleep(0.1)
        self.violations[-1]["converged_after_ms"] = None
        self.violations[-1]["recovery"] = "both vipd restarted"
        say(f"  no convergence 10 s after {fault} ({last}); restarting both vipd")
        lab = self.lab
        for n in ("a", "b"):
            lab.stop_vipd(n)
        lab.partition(on=False)
        for n in ("a", "b"):
            lab.drop_heartbeats(n, on=False)
            lab.link_up(n)
        self.restart("a")
        self.restart("b")
        self.lab.wait_for(lambda: self.converged()[0], 20, what="convergence after restarting both", interval=0.1)
        return self.converged()[0], None

    def master(self):
        h = self.lab.holders()
        return h[0] if len(h) == 1 else "a"

    # --- faults -------------------------------------------------------------------
    def restart(self, node):
        self.lab.start_vipd(node)   # returns once it answers

    def fault(self, kind):
        lab, rng = self.lab, self.rng
        m = self.master()
        other = "b" if m == "a" else "a"
        note = ""
        if kind == "hard-kill":
            lab.kill_hard(m)
            time.sleep(rng.uniform(1, 3))
            lab.reboot_link(m)
            self.restart(m)
        elif kind == "crash":
            lab.kill9(m)
            time.sleep(rng.uniform(0.5, 2))
            self.restart(m)
        elif kind == "sigterm":
            lab.stop_vipd(m)
            time.sleep(rng.uniform(0.5, 2))
            self.restart(m)
        elif kind == "kill-backup":
            lab.stop_vipd(other)
            time.sleep(rng.uniform(0.5, 2))
            self.restart(other)
        elif kind == "failover":
            rc, out, err = lab.vipctl(m, "failover", check=False, timeout=30)
            note = f"rc {rc} {(out + err).strip()[:120]}"
        elif kind == "partition":
            lab.partition()
            time.sleep(rng.uniform(1, 3))
            note = f"during: holders {lab.holders()}, states {self.states()}"
            lab.partition(on=False)
        elif kind == "local-drop":
            n = rng.choice(["a", "b"])
            lab.drop_heartbeats(n)
            time.sleep(rng.uniform(1, 3))
            note = f"on {n}; during: holders {lab.holders()}, states {self.states()}"
            lab.drop_heartbeats(n, on=False)
        elif kind == "maintenance":
            rc, out, err = lab.vipctl(m, "maintenance", "on", check=False, timeout=30)
            note = f"on: rc {rc}"
            time.sleep(rng.uniform(1, 2))
            rc, out, err = lab.vipctl(m, "maintenance", "off", check=False, timeout=30)
            note += f", off: rc {rc}"
        elif kind == "cpu-burst":
            lab.start_stress(3)
            lab.wait_for(lambda: not lab.running("stress"), 20, what="stress-ng to end", interval=0.2)
            lab.stop_stress()
        return m, note


def transitions(text):
    return len(re.findall(r": (?:init|backup|master|fault|maintenance) -> ", text))


def _sigterm(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600")))
    p.add_argument("--seed", type=int, default=int(os.environ["SOAK_SEED"]) if os.environ.get("SOAK_SEED") else None)
    p.add_argument("--faults", default=os.environ.get("SOAK_FAULTS", ",".join(FAULTS)))
    p.add_argument("--out", default=os.path.join(REPO, "bench", "soak.json"))
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    faults = a.faults.split(",")
    for f in faults:
        if f not in FAULTS:
            raise SystemExit(f"unknown fault {f}; known: {', '.join(FAULTS)}")
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    if "BIN_DIR" not in os.environ:
        os.environ["BIN_DIR"] = os.path.join(REPO, ".build", "debug")
    signal.signal(signal.SIGTERM, _sigterm)
    interval = os.environ.get("INTERVAL", "100ms")
    say(f"soak for {a.seconds:.0f} s, seed {seed}, interval {interval}, faults {','.join(faults)}")
    lab = Lab(interval_ms=interval_ms(interval))
    ok = False
    summary = {"seconds": a.seconds, "seed": seed, "interval": interval, "faults": {}, "violations": [],
               "client": None}
    try:
        lab.up()
        need_packages("nginx", "nftables", *(["stress-ng"] if "cpu-burst" in faults else []))
        lab.start_http("a")
        lab.start_http("b")
        lab.start_vipd("a", wait=False)
        lab.start_vipd("b", wait=False)
        lab.wait_running("a")
        lab.wait_running("b")
        lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("a") == "master" and lab.state("b") == "backup",
                     20, what="A sole master, B backup", interval=0.05)
        stop, out, ready = (os.path.join(lab.dir, f"soak-http.{x}") for x in ("stop", "json", "ready"))
        lab.python("c", "httpprobe.py", "--interval", "0.01", "--stop-file", stop, "--out", out, "--ready-file", ready,
                   "--max-duration", a.seconds + 120, "--report-gap-ms", "100", VIP, name="soak-http")
        lab.wait_for(lambda: os.path.exists(ready), 15, what="client's first answer", interval=0.05)
        soak = Soak(lab, rng)
        t_end = time.monotonic() + a.seconds
        n = 0
        while time.monotonic() < t_end:
            time.sleep(rng.uniform(1.0, 3.0))
            if time.monotonic() >= t_end:
                break
            kind = rng.choice(faults)
            n += 1
            t0 = time.monotonic()
            target, note = soak.fault(kind)
            t_quiet = time.monotonic()
            holder, took = soak.check(kind, t_quiet)
            soak.counts[kind] = soak.counts.get(kind, 0) + 1
            say(f"#{n} {kind} on {target} ({(t_quiet - t0):.1f} s{', ' + note if note else ''}) -> "
                f"{holder} sole master, client served, {took} ms after quiet" if took is not None else
                f"#{n} {kind} on {target}: converged late")
            soak.log.append({"n": n, "fault": kind, "target": target, "note": note, "holder": holder,
                             "converged_ms": took})
        open(stop, "w").close()
        lab.wait_for(lambda: os.path.exists(out), 30, what="client result", interval=0.05)
        lab.stop("soak-http", timeout=5)
        with open(out) as f:
            client = json.load(f)
        summary.update({
            "faults": soak.counts, "fault_log": soak.log, "violations": soak.violations,
            "transitions": {nd: transitions(lab.log(nd)) for nd in ("a", "b")},
            "client": {k: client[k] for k in ("sent", "ok", "failed", "failed_by_reason", "max_gap_ms", "latency_ms",
                                               "served_by", "gaps_over_ms")},
        })
        c = summary["client"]
        say(f"done: {n} faults {soak.counts}; client {c['sent']} requests, {c['failed']} failed "
            f"{c['failed_by_reason']}, longest gap {c['max_gap_ms']} ms; {len(soak.violations)} violation(s)")
        ok = not soak.violations
    finally:
        keep = os.environ.get("LAB_KEEP") == "1" or not ok
        if keep and lab.dir:
            say(f"keeping {lab.dir} (a.log, b.log)")
        lab.close(keep=keep)
        if a.out:
            os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
            with open(a.out, "w") as f:
                json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("seconds", "seed", "faults", "client") if k in summary}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
