#!/usr/bin/env python3
"""`make bench`: vipd against Debian's keepalived in the namespace lab.

For each daemon (vipd, keepalived 2.2.7 with VRRPv3) and advert interval
(1 s, 100 ms, 20 ms) a fresh lab (lab/vlab): nodes A
(198.18.0.1, priority 150) and B (198.18.0.2, priority 100), each running the
daemon and a tiny nginx on :80 that answers its node name; client C probes the
VIP 198.18.0.100 with ICMP every 10 ms (lab/probe.py) AND one new-connection
HTTP request every 10 ms (lab/httpprobe.py).

Scenarios (each --runs times, default 5), the master A faulted after >= 1 s
of steady traffic, at a random phase of the advert cycle, except hard-kill:
run k of n kills A (k - 0.5) / n of an interval after B received A's last
advert (timed from the running capture; the same phases for every daemon):
  hard-kill         A's switch port down + SIGKILL of the daemon at once
                    (keepalived: parent and VRRP child). A is then "rebooted":
                    leftover VIP removed, link up, daemon restarted, preempts.
  graceful-stop     SIGTERM to the daemon on A (priority-0 advert).
  planned-failover  vipd: `vipctl failover --to node-b` on A (A keeps the VIP
                    until B's first heartbeat). keepalived has no such command;
                    the closest is lowering A's priority below B's through a
                    track_file (weight 1, value -100, inotify) — see
                    docs/benchmarks.md. Back: `vipctl failover --to node-a` /
                    track file 0.
  cpu-starvation    (20 ms only) stress-ng --cpu <nproc> for 60 s with both
                    daemons and the probes running; spurious transitions =
                    state changes in either daemon's log in that window.
  load-120rps-master-kill  (100 ms only, one run) a lab with the bingo
                    stand-in and the project's nginx site (conf/nginx) on both
                    nodes; 120 new-connection GETs/s of /db_dummy and
                    /api/{movie,customer,session}/{id} for 60 s; A hard-killed
                    at 30 s.
  api-120rps        (daemon-independent, once) bingo's API through one nginx
                    front and two stand-ins on the full-size PostgreSQL data,
                    per endpoint of bingo.md requirements 3-5, without and
                    with the role's indexes: lab/bench_api.py (~30 min; alone:
                    BENCH_SCENARIOS=api-120rps or python3 lab/bench_api.py).
  loss              three nodes (A 150, B 100, D 50), 10 % and 30 % random
                    loss on A's link for 60 s at 20 ms and 100 ms, vipd with the
                    RFC rule, vipd-adaptive and keepalived, 3 runs (quick: 1 run
                    of 20 s, 30 % at 20 ms): spurious takeovers, the client's
                    longest gap, time with two holders: lab/bench_loss.py
                    (~60 min; alone: BENCH_SCENARIOS=loss).
  db-failover       (daemon-independent, once) the replicated PostgreSQL pair
                    (vipd-pg, quorum with a witness) under 50 INSERTs/s:
                    primary's node killed, standby's node killed, planned
                    switchover, primary cut off; promotion time, write pause,
                    failed and lost writes, rejoin: lab/bench_db.py (~5 min).
  idle              (100 ms only) CPU % of a core and RSS of each daemon over
                    20 s, in the lab of the failover scenarios after 125 s of
                    quiet and in a fresh lab (time on CPU of every thread, in ns, from
                    /proc/PID/task/*/schedstat: /proc/PID/stat counts 10 ms
                    ticks, 0.05 % of a core over 20 s, too coarse here; VmRSS,
                    the largest sample; keepalived = parent + VRRP child).
  active-active     (100 ms) two instances, web master on A and db master on
                    B (keepalived: two vrrp_instances); each run hard-kills A
                    (web moves), restarts it (failback), then B (db moves):
                    outage of the moved VIP, of its failback, of the other VIP.
  link-down         (1 s and 100 ms) A's link loses carrier, its daemon alive
                    and tracking it: one-link (heartbeats and VIP on eth0) and
                    two-links (VIP on a second network, eth1, which loses
                    carrier): link down -> the client's first answer from B.
  idle-instances    (1 s) idle CPU and RSS of each node's daemon with 1, 10,
                    100 instances (BENCH_INSTANCE_COUNTS), a fresh lab per run,
                    BENCH_IDLE_RUNS (3) runs, medians; under "idle" with
                    "instances". See lab/benchinstances.py.

Outage (the table's and outage_ms) = longest gap between successful HTTP
responses (kernel receive timestamps); the ICMP gap is recorded too
(icmp_outage_ms). failed_requests = HTTP requests that got an error or no
answer within 2 s.

Env / options: BENCH_QUICK=1 (2 runs at 100 ms, cpu-starvation 1 x 15 s at
20 ms, idle 5 s, load 20 s, idle-instances 1 run), BENCH_RUNS, BENCH_INTERVALS
("1s,100ms,20ms"), BENCH_SCENARIOS ("hard-kill,graceful-stop,planned-failover,
cpu-starvation,idle,load-120rps-master-kill,active-active,link-down,
idle-instances,api-120rps,db-failover,loss"), BENCH_INSTANCE_COUNTS ("1,10,100"), BENCH_IDLE_RUNS
(3), BENCH_DAEMONS ("vipd,vipd-adaptive,keepalived"; vipd-adaptive is vipd
with timing.detection: adaptive, in hard-kill only, after B has learned a
clean link: ~5 min at 100 ms, ~3 min at 20 ms), BENCH_MERGE=1 (--merge: keep the other
scenarios' entries of BENCH_OUT), BENCH_STARVE_SECONDS (60), BENCH_LOAD_SECONDS
(60), BENCH_IDLE_SECONDS (20), BENCH_OUT (bench/results.json), BIN_DIR (vipd and
vipctl; default .build/debug, what `make build` makes; copied once at start),
BENCH_VIPD_RT_YAML (extra vipd YAML for cpu-starvation; default: realtime
options auto-detected with `vipd check-config`), BENCH_KA_RT (1: keepalived
with vrrp_rt_priority + vrrp_no_swap in cpu-starvation; default: same as vipd),
LAB_KEEP=1.
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vlab import LabError, interval_ms, ms_to_interval  # noqa: E402
from vlab.util import need_packages, need_tools, say as lab_say  # noqa: E402
from benchdaemons import Keepalived, Vipd, daemon_for  # noqa: E402
from benchmeasure import idle_measure  # noqa: E402
from benchnames import SCENARIOS  # noqa: E402
import benchinstances  # noqa: E402
from benchreport import machine, merged, table  # noqa: E402
from benchscenarios import fault_run, load_run, open_lab, starvation_run  # noqa: E402
import bench_api  # noqa: E402
import bench_db  # noqa: E402
import bench_loss  # noqa: E402

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)


def say(text):
    lab_say(text, "bench")


# --- vipd realtime options -------------------------------------------------------------

RT_CANDIDATES = [
    "realtime_priority: 10\nlock_memory: true",
    "process:\n  realtime_priority: 50\n  lock_memory: true",
    "scheduling:\n  realtime_priority: 50\n  lock_memory: true",
    "daemon:\n  realtime_priority: 50\n  lock_memory: true",
    "realtime_priority: 50",
]


def detect_vipd_rt(bin_dir):
    """The YAML that turns on vipd's real-time scheduling / mlockall, if this binary knows it."""
    if "BENCH_VIPD_RT_YAML" in os.environ:
        return os.environ["BENCH_VIPD_RT_YAML"]
    vipd = os.path.join(bin_dir, "vipd")
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "k")
        with open(key, "w") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        os.chmod(key, 0o600)
        base = ("node:\n  id: node-a\n  interface: eth0\n  address: 198.18.0.1\n  priority: 150\n"
                "peers:\n  - id: node-b\n    address: 198.18.0.2\nvrid: 51\n"
                f"auth:\n  key_file: {key}\n")
        for cand in RT_CANDIDATES:
            path = os.path.join(d, "c.yaml")
            with open(path, "w") as f:
                f.write(base + cand + "\n")
            try:
                r = subprocess.run([vipd, "check-config", path], capture_output=True, text=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                return ""
            if r.returncode == 0:
                return cand
    return ""


# --- report -------------------------------------------------------------------------------


# --- main ------------------------------------------------------------------------------------

def _sigterm(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")


# Quiet before the idle measurement after the failover scenarios: vipd's
# MemoryTrimmer gives back what one-off work touched 60 to 120 s after it.
IDLE_QUIET_S = 125


def tables(results):
    """Every table of a results file: the failover scenarios', then those
    that have tables of their own (API, database, loss)."""
    own = {"api-120rps": bench_api.table, **{n: bench_db.table for n in bench_db.SCENARIOS}, "loss": bench_loss.table}
    text = table({**results, "scenarios": [e for e in results["scenarios"] if e["name"] not in own]})
    for render in dict.fromkeys(own.values()):
        mine = [e for e in results["scenarios"] if own.get(e["name"]) is render]
        if mine:
            text += "\n\n" + render(mine)
    return text


def main():
    quick = os.environ.get("BENCH_QUICK", "0") not in ("", "0")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=quick)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "0")) or None)
    p.add_argument("--intervals", default=os.environ.get("BENCH_INTERVALS"))
    p.add_argument("--scenarios", default=os.environ.get("BENCH_SCENARIOS"))
    # Quick runs leave vipd-adaptive out (its learning alone takes minutes).
    p.add_argument("--daemons", default=os.environ.get(
        "BENCH_DAEMONS", "vipd,keepalived" if quick else "vipd,vipd-adaptive,keepalived"))
    p.add_argument("--starve-seconds", type=int, default=int(os.environ.get("BENCH_STARVE_SECONDS", "0")) or None)
    p.add_argument("--idle-seconds", type=int, default=int(os.environ.get("BENCH_IDLE_SECONDS", "0")) or None)
    p.add_argument("--idle-runs", type=int, default=int(os.environ.get("BENCH_IDLE_RUNS", "0")) or None,
                   help="idle-instances: fresh labs per (daemon, instances); default 3, quick 1")
    p.add_argument("--instance-counts", default=os.environ.get("BENCH_INSTANCE_COUNTS", "1,10,100"))
    p.add_argument("--out", default=os.environ.get("BENCH_OUT", os.path.join(REPO, "bench", "results.json")))
    p.add_argument("--merge", action="store_true", default=os.environ.get("BENCH_MERGE", "0") not in ("", "0"),
                   help="keep what --out holds of the scenarios not run this time (details.json, table.md: this run)")
    p.add_argument("--render", metavar="RESULTS_JSON", help="only print the table of an existing results file")
    a = p.parse_args()
    if a.render:
        with open(a.render) as f:
            results = json.load(f)
        print(tables(results))
        return 0
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    runs = a.runs or (2 if a.quick else 5)
    intervals = [interval_ms(x) for x in (a.intervals or ("100ms,20ms" if a.quick else "1s,100ms,20ms")).split(",")]
    quick_default_intervals = a.quick and not a.intervals
    scenarios = (a.scenarios or ",".join(SCENARIOS)).split(",")
    starve_s = a.starve_seconds or (15 if a.quick else 60)
    starve_runs = 1 if a.quick and not a.runs else runs
    idle_s = a.idle_seconds or (5 if a.quick else 20)
    load_s = int(os.environ.get("BENCH_LOAD_SECONDS", "0")) or (20 if a.quick else 60)
    daemons_wanted = a.daemons.split(",")
    for s in scenarios:
        if s not in SCENARIOS:
            raise SystemExit(f"unknown scenario {s}")

    if "BIN_DIR" not in os.environ:
        os.environ["BIN_DIR"] = os.path.join(REPO, ".build", "debug")
    bin_dir = os.environ["BIN_DIR"]
    # Snapshot the binaries now (the lead may rebuild mid-run): every lab copies from here.
    snap = tempfile.mkdtemp(prefix="vipd-bench-bin.")
    for b in ("vipd", "vipctl"):
        subprocess.run(["cp", os.path.join(bin_dir, b), snap], check=True)
    os.environ["BIN_DIR"] = snap
    for b in ("vipd", "vipctl"):
        if subprocess.run([os.path.join(snap, b), "--version"], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["rm", "-rf", snap])
            raise SystemExit(f"{bin_dir}/{b} --version failed: a half-written build? try again once it is built")

    signal.signal(signal.SIGTERM, _sigterm)
    need_tools()
    need_packages("keepalived", "stress-ng", "nginx")
    rt_yaml = detect_vipd_rt(snap)
    ka_rt = os.environ.get("BENCH_KA_RT", "1" if rt_yaml else "0") == "1"
    rt_text = repr(rt_yaml) if rt_yaml else "none (not supported by this build)"
    say(f"binaries from {bin_dir}; vipd realtime options for cpu-starvation: {rt_text}; "
        f"keepalived realtime: {ka_rt}")

    results = {"machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "scenarios": [], "idle": []}
    details = {"machine": results["machine"], "date": results["date"], "bin_dir": bin_dir, "quick": a.quick,
               "vipd_rt_yaml": rt_yaml, "keepalived_rt": ka_rt, "probe": {"icmp_interval_ms": 10, "http_interval_ms": 10,
                                                                          "http_timeout_s": 2.0},
               "runs": [], "errors": [], "versions": {}}
    t_start = time.time()
    for name in daemons_wanted:
        details["versions"][name] = daemon_for(name).version()
    try:
        for daemon_name in daemons_wanted:
            for iv in intervals:
                want = [s for s in scenarios
                        if (s in ("hard-kill", "graceful-stop", "planned-failover"))
                        or (s == "cpu-starvation" and iv == 20)
                        or (s in ("idle", "load-120rps-master-kill") and iv == 100)]
                if quick_default_intervals and iv == 20:
                    want = [s for s in want if s == "cpu-starvation"]  # quick: the rest at 100 ms only
                if daemon_name == "vipd-adaptive":
                    want = [s for s in want if s == "hard-kill"]  # what adaptive detection changes
                if not want:
                    continue
                base_daemon = daemon_for(daemon_name)
                lab, learned = None, None
                try:
                    for scen in want:
                        daemon = base_daemon
                        if scen == "cpu-starvation":
                            daemon = Vipd(rt_yaml) if daemon_name == "vipd" else Keepalived(ka_rt)
                            if lab is not None and (rt_yaml or ka_rt):
                                lab.close()
                                lab = None
                        if lab is None and scen != "load-120rps-master-kill":
                            say(f"lab for {daemon_name} at {ms_to_interval(iv)}")
                            lab = open_lab(daemon, iv, **daemon.lab_options)
                            learned = daemon.warm(lab, say)
                        entry = {"name": scen, "daemon": daemon_name, "advert_interval_ms": iv}
                        if learned:
                            entry["learned_s"], entry["master_down_ms"] = learned
                        if scen == "load-120rps-master-kill":
                            if lab is not None:
                                lab.close(keep=os.environ.get("LAB_KEEP") == "1")
                                lab = None
                            say(f"lab with bingo stand-ins and the nginx site for {daemon_name}; {load_s} s of load")
                            try:
                                d = load_run(base_daemon, load_s, load_s / 2)
                            except LabError as e:
                                say(f"{scen} {daemon_name} FAILED: {e}")
                                details["errors"].append({"scenario": scen, "daemon": daemon_name, "error": str(e)[:2000]})
                                continue
                            for k in ("outage_ms", "failed_requests", "total_requests", "p90_ms"):
                                entry[k] = [d[k]]
                            results["scenarios"].append(entry)
                            details["runs"].append({"scenario": scen, "daemon": daemon_name, "interval_ms": iv, **d})
                            say(f"{scen} {daemon_name}: outage {d['outage_ms']} ms, failed {d['failed_requests']}/"
                                f"{d['total_requests']} {d['failed_by_reason']}, p90 {d['p90_ms']} ms")
                            continue
                        if scen == "idle":
                            # Twice: in this lab once it has been quiet for IDLE_QUIET_S after
                            # the failover scenarios, and in a fresh lab.
                            quiet = 0 if a.quick else IDLE_QUIET_S
                            say(f"idle {daemon_name}: {quiet} s of quiet first")
                            time.sleep(quiet)
                            fresh = open_lab(daemon, iv, **daemon.lab_options)
                            try:
                                for when, where in (("after failovers", lab), ("fresh", fresh)):
                                    m = idle_measure(where, daemon, idle_s)
                                    results["idle"].append({"daemon": daemon_name, "advert_interval_ms": iv, "when": when,
                                                            "cpu_percent": m["a"]["cpu_percent"],
                                                            "rss_kib": m["a"]["rss_kib"],
                                                            "backup_cpu_percent": m["b"]["cpu_percent"],
                                                            "backup_rss_kib": m["b"]["rss_kib"]})
                                    details["runs"].append({"scenario": "idle", "daemon": daemon_name, "when": when, **m})
                                    say(f"idle {daemon_name} ({when}): master {m['a']['cpu_percent']}% "
                                        f"{m['a']['rss_kib']} KiB, backup {m['b']['cpu_percent']}% {m['b']['rss_kib']} KiB "
                                        f"over {m['seconds']} s")
                            finally:
                                fresh.close(keep=os.environ.get("LAB_KEEP") == "1")
                            continue
                        keys = ["outage_ms", "icmp_outage_ms", "failed_requests", "total_requests", "p90_ms"]
                        if scen == "cpu-starvation":
                            keys.append("spurious_transitions")
                        if scen == "hard-kill":
                            keys.append("after_last_advert_ms")
                        for k in keys:
                            entry[k] = []
                        n = starve_runs if scen == "cpu-starvation" else runs
                        for i in range(1, n + 1):
                            try:
                                if scen == "cpu-starvation":
                                    d = starvation_run(lab, daemon, starve_s, i)
                                else:
                                    d = fault_run(lab, daemon, scen, iv, i, of_runs=n)
                            except LabError as e:
                                say(f"{scen} {daemon_name} {ms_to_interval(iv)} run {i} FAILED: {e}")
                                details["errors"].append({"scenario": scen, "daemon": daemon_name, "interval_ms": iv,
                                                          "run": i, "error": str(e)[:2000],
                                                          "lab": lab.dir if lab else None})
                                lab.close(keep=True)
                                lab = None
                                lab = open_lab(daemon, iv, **daemon.lab_options)
                                daemon.warm(lab, say)
                                continue
                            for k in keys:
                                entry[k].append(d[k])
                            details["runs"].append({"scenario": scen, "daemon": daemon_name, "interval_ms": iv, **d})
                            extra = (f"spurious {d['spurious_transitions']}" if scen == "cpu-starvation"
                                     else f"fault->first ok {d['fault_to_first_ok_ms']} ms")
                            say(f"{scen} {daemon_name} {ms_to_interval(iv)} run {i}: outage {d['outage_ms']} ms "
                                f"(icmp {d['icmp_outage_ms']}), failed {d['failed_requests']}/{d['total_requests']}, {extra}")
                        if scen == "planned-failover" and daemon_name == "keepalived":
                            entry["note"] = "(track_file prio -100)"
                        results["scenarios"].append(entry)
                finally:
                    if lab is not None:
                        lab.close(keep=os.environ.get("LAB_KEEP") == "1")
        benchinstances.run(scenarios, daemons_wanted, [iv for iv in intervals if iv >= 100], runs, idle_s,
                           a.idle_runs or (1 if a.quick else 3), [int(x) for x in a.instance_counts.split(",")],
                           results, details, say)
        if "api-120rps" in scenarios:
            say("api-120rps: lab with PostgreSQL, two stand-ins and the nginx site (lab/bench_api.py)")
            try:
                entries, d = bench_api.run(int(os.environ.get("BENCH_API_SECONDS", "0")) or (20 if a.quick else 60),
                                           float(os.environ.get("BENCH_API_SCALE", "1.0")))
                results["scenarios"].extend(entries)
                details["runs"].append({"scenario": "api-120rps", **d})
            except LabError as e:
                say(f"api-120rps FAILED: {e}")
                details["errors"].append({"scenario": "api-120rps", "error": str(e)[:2000]})
        if "loss" in scenarios:
            loss_daemons = [d for d in ("vipd", "vipd-adaptive", "keepalived")
                            if d in daemons_wanted or (d == "vipd-adaptive" and "vipd" in daemons_wanted)]
            say(f"loss: three nodes, random loss on the master's link ({', '.join(loss_daemons)}; lab/bench_loss.py)")
            try:
                results["scenarios"].extend(bench_loss.run(
                    loss_daemons, [20] if a.quick else [20, 100], [30] if a.quick else [10, 30],
                    20 if a.quick else 60, 20, 1 if a.quick else 3))
            except LabError as e:
                say(f"loss FAILED: {e}")
                details["errors"].append({"scenario": "loss", "error": str(e)[:2000]})
        if "db-failover" in scenarios:
            say("db-failover: the replicated database pair under faults (lab/bench_db.py)")
            entries, d = bench_db.run(2 if a.quick else runs)
            results["scenarios"].extend(entries)
            details["runs"].append({"scenario": "db-failover", **d})
            details["errors"] += d["errors"]
    finally:
        subprocess.run(["rm", "-rf", snap])
        details["elapsed_s"] = round(time.time() - t_start, 1)
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        # results.json in design.md's shape (no per-run details, no notes); details next to it.
        clean = dict(results)
        clean["scenarios"] = [{k: v for k, v in s.items() if k != "note"} for s in results["scenarios"]]
        if a.merge:
            clean = merged(a.out, clean, scenarios)
        with open(a.out, "w") as f:
            json.dump(clean, f, indent=1)
        with open(os.path.join(os.path.dirname(a.out), "details.json"), "w") as f:
            json.dump(details, f, indent=1)
        text = tables(results)
        with open(os.path.join(os.path.dirname(a.out), "table.md"), "w") as f:
            f.write(text + "\n")
        print(text, flush=True)
        say(f"wrote {a.out} (+ details.json, table.md) in {details['elapsed_s']} s; "
            f"{len(details['errors'])} failed run(s)")
    return 1 if details["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
