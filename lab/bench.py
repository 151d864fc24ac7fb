#!/usr/bin/env python3
"""`make bench`: vipd against Debian's keepalived in the namespace lab.

For each daemon (vipd, keepalived 2.2.7 with VRRPv3) and advert interval
(1 s, 100 ms, 20 ms) a fresh lab (lab/lib.sh + lab/benchlib.sh): nodes A
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
  idle              (100 ms only) CPU % of a core and RSS of each daemon over
                    20 s (time on CPU of every thread, in ns, from
                    /proc/PID/task/*/schedstat: /proc/PID/stat counts 10 ms
                    ticks, 0.05 % of a core over 20 s, too coarse here; VmRSS,
                    the largest sample; keepalived = parent + VRRP child).

Outage (the table's and outage_ms) = longest gap between successful HTTP
responses (kernel receive timestamps); the ICMP gap is recorded too
(icmp_outage_ms). failed_requests = HTTP requests that got an error or no
answer within 2 s.

Env / options: BENCH_QUICK=1 (2 runs at 100 ms, cpu-starvation 1 x 15 s at
20 ms, idle 5 s, load 20 s), BENCH_RUNS, BENCH_INTERVALS ("1s,100ms,20ms"),
BENCH_SCENARIOS ("hard-kill,graceful-stop,planned-failover,cpu-starvation,idle,
load-120rps-master-kill"),
BENCH_DAEMONS ("vipd,keepalived"), BENCH_STARVE_SECONDS (60), BENCH_LOAD_SECONDS (60),
BENCH_IDLE_SECONDS (20), BENCH_OUT (bench/results.json), BIN_DIR (vipd and
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
import platform
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labshell import LabShell, LabError  # noqa: E402

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)
VIP = "198.18.0.100"
SCENARIOS = ["hard-kill", "graceful-stop", "planned-failover", "cpu-starvation", "idle", "load-120rps-master-kill"]
LOAD_PATHS = "/db_dummy,/api/movie/{id},/api/customer/{id},/api/session/{id}"


def say(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def interval_to_ms(text):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)?\s*", text)
    if not m:
        raise SystemExit(f"bad interval {text!r}")
    return int(round(float(m.group(1)) * (1000 if m.group(2) == "s" else 1)))


def ms_to_interval(ms):
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


# --- daemons ---------------------------------------------------------------------

class Vipd:
    name = "vipd"
    transition_re = re.compile(r": (init|backup|master|fault|maintenance) -> (init|backup|master|fault|maintenance)\b")

    def __init__(self, extra_yaml=""):
        self.extra_yaml = extra_yaml

    def start(self, lab, node):
        extra = shlex.quote(self.extra_yaml) if self.extra_yaml else ""
        lab.run(f"lab_start_vipd {node} {extra} >/dev/null; lab_wait_running {node}")

    def state(self, lab, node):
        return lab.state(node)

    def stop(self, lab, node):
        lab.run(f"lab_stop {node}")

    def kill_hard(self, lab, node, at=None):
        lab.run(f"{kill_at(at)}lab_kill_hard {node}")

    def planned(self, lab):
        lab.run("$LAB/bin/vipctl failover --to node-b --socket $(lab_socket a)", timeout=60)

    def unplan(self, lab):
        lab.run("$LAB/bin/vipctl failover --to node-a --socket $(lab_socket b)", timeout=60)

    def pids(self, lab, node):
        pid = lab.pid(node)
        return [pid] if pid else []

    def version(self, lab):
        return lab.out("$LAB/bin/vipd --version", check=False)


class Keepalived:
    name = "keepalived"
    transition_re = re.compile(r"Entering (MASTER|BACKUP|FAULT) STATE")

    def __init__(self, realtime=False):
        self.realtime = realtime

    def start(self, lab, node):
        rt = "KA_RT=1 " if self.realtime else ""
        lab.run(f"{rt}bench_start_keepalived {node} >/dev/null")

    def state(self, lab, node):
        return lab.out(f"bench_keepalived_state {node}")

    def stop(self, lab, node):
        lab.run(f"bench_stop_keepalived {node}")

    def kill_hard(self, lab, node, at=None):
        lab.run(f"{kill_at(at)}bench_kill_hard_keepalived {node}")

    def planned(self, lab):
        lab.run("bench_keepalived_set_prio_offset a -100")

    def unplan(self, lab):
        lab.run("bench_keepalived_set_prio_offset a 0")

    def pids(self, lab, node):
        return [int(p) for p in lab.out(f"bench_keepalived_pids {node}").split()]

    def version(self, lab):
        return lab.out("keepalived --version 2>&1 | head -1", check=False)


# --- lab helpers -------------------------------------------------------------------

def open_lab(daemon, interval_ms):
    lab = LabShell(env={"INTERVAL": ms_to_interval(interval_ms)})
    try:
        lab.up()
        lab.run(f"source {LAB_DIR}/benchlib.sh")
        lab.run("bench_start_http a >/dev/null; bench_start_http b >/dev/null")
        daemon.start(lab, "a")
        daemon.start(lab, "b")
        wait_baseline(lab, daemon, 30)
    except BaseException:
        lab.close(keep=True)
        raise
    return lab


def wait_baseline(lab, daemon, timeout=30):
    lab.wait_for(lambda: lab.holders() == ["a"] and daemon.state(lab, "a") == "master"
                 and daemon.state(lab, "b") == "backup", timeout, interval=0.05,
                 what=f"{daemon.name}: A sole master, B backup")


def start_probes(lab, tag, max_duration=300):
    files = {}
    for kind, script in (("icmp", "probe.py"), ("http", "httpprobe.py")):
        name = f"{kind}-{tag}"
        stop, out, ready = (os.path.join(lab.lab, f"{name}.{x}") for x in ("stop", "json", "ready"))
        lab.run(f"lab_bg {name} c python3 {LAB_DIR}/{script} --interval 0.01 --stop-file {stop} --out {out} "
                f"--ready-file {ready} --max-duration {max_duration} {VIP}")
        files[kind] = (name, stop, out, ready)
    for kind, (name, stop, out, ready) in files.items():
        lab.wait_for(lambda: os.path.exists(ready), 15, what=f"{kind} probe's first answer")
    return files


def stop_probes(lab, files):
    for name, stop, out, ready in files.values():
        open(stop, "w").close()
    results = {}
    for kind, (name, stop, out, ready) in files.items():
        lab.wait_for(lambda: os.path.exists(out), 30, what=f"{kind} probe result")
        lab.run(f"lab_kill_pid $(cat $LAB/bgpid.{name}) TERM 5")
        with open(out) as f:
            results[kind] = json.load(f)
    return results


def count_transitions(daemon, text):
    return len(daemon.transition_re.findall(text))


# --- scenarios -----------------------------------------------------------------------

def start_advert_capture(lab, tag):
    """tcpdump in B's namespace: A's heartbeats/adverts as B receives them (for the phase of a kill)."""
    name = f"adv-{tag}"
    pcap = os.path.join(lab.lab, f"{name}.pcap")
    lab.run(f"lab_bg {name} b tcpdump -i eth0 -n -U --immediate-mode -w {pcap} "
            f"'src host 198.18.0.1 and (udp dst port 5798 or ip proto 112)'")
    lab.wait_for(lambda: "listening on" in _read(os.path.join(lab.lab, f"{name}.err")), 10, what="tcpdump to listen")
    return name, pcap


def target_phase_ms(index, runs, interval_ms):
    """Run `index` (1-based) of `runs`: (index - 0.5) / runs of an interval."""
    return (index - 0.5) / runs * interval_ms


def kill_at(at):
    """The KILL_AT= prefix (microseconds) that makes the kill wait for wall time `at` (epoch s)."""
    return f"KILL_AT={int(at * 1_000_000)} " if at else ""


def adverts_so_far(pcap):
    """Receive times (epoch s) of the adverts captured so far (the capture is still running)."""
    out = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt"], capture_output=True, text=True).stdout
    stamps = []
    for line in out.splitlines():
        try:
            stamps.append(float(line.split()[0]))
        except (IndexError, ValueError):
            pass
    return stamps


def phased_kill_time(pcap, interval_ms, phase_ms, lead_s=0.05):
    """When to kill so that `phase_ms` have passed since A's last advert: the
    first such moment at least `lead_s` from now, from the adverts B has
    received so far (A sends them every interval). None if none were seen."""
    stamps = adverts_so_far(pcap)
    if not stamps:
        return None
    interval = interval_ms / 1000
    target = stamps[-1] + phase_ms / 1000
    while target < time.time() + lead_s:
        target += interval
    return target


def last_advert_before(lab, name, pcap, t):
    lab.run(f"lab_kill_pid $(cat $LAB/bgpid.{name}) TERM 5")
    out = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt"], capture_output=True, text=True).stdout
    stamps = [float(l.split()[0]) for l in out.splitlines() if l.strip()]
    before = [x for x in stamps if x <= t]
    return max(before) if before else None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def fault_run(lab, daemon, scenario, interval_ms, index, of_runs=5):
    tag = f"{scenario}-{index}"
    files = start_probes(lab, tag)
    capture = start_advert_capture(lab, tag) if scenario == "hard-kill" else None
    time.sleep(1.0 + random.uniform(0, interval_ms / 1000))
    marks = {n: len(lab.log(n)) for n in ("a", "b")}
    t_fault = time.time()
    t_action_end = None
    t_down = None
    if scenario == "hard-kill":
        # Paired phases: run k of n kills (k + 0.5) / n of an interval after A's
        # last advert, for every daemon alike, so their medians compare the
        # daemons and not the luck of five random draws (the outage is
        # Master_Down_Interval minus that phase).
        kill_time = phased_kill_time(capture[1], interval_ms, target_phase_ms(index, of_runs, interval_ms))
        daemon.kill_hard(lab, "a", at=kill_time)
        with open(os.path.join(lab.lab, "killtime.a")) as f:
            t_fault, t_down = map(float, f.read().split())
    elif scenario == "graceful-stop":
        daemon.stop(lab, "a")
    elif scenario == "planned-failover":
        daemon.planned(lab)
        t_action_end = time.time()
    lab.wait_for(lambda: "b" in lab.holders() and daemon.state(lab, "b") == "master",
                 15 + 10 * interval_ms / 1000, interval=0.02, what=f"{daemon.name}: B to take over")
    if scenario != "hard-kill":
        lab.wait_for(lambda: lab.holders() == ["b"], 10, interval=0.02, what="A to release the VIP")
    t_takeover = time.time()
    time.sleep(1.0)
    res = stop_probes(lab, files)
    http, icmp = res["http"], res["icmp"]
    logs = {n: lab.log(n)[marks[n]:] for n in ("a", "b")}
    covers = (http["gap_start"] is not None and http["gap_start"] <= t_fault + 0.05 and http["gap_end"] >= t_fault)
    last_adv = last_advert_before(lab, *capture, t_down) if capture else None
    detail = {
        "run": index, "outage_ms": http["max_gap_ms"], "icmp_outage_ms": icmp["max_gap_ms"],
        "failed_requests": http["failed"], "failed_by_reason": http["failed_by_reason"],
        "total_requests": http["sent"], "p90_ms": http["latency_ms"]["p90"],
        "icmp_sent": icmp["sent"], "icmp_received": icmp["received"],
        "gap_covers_fault": covers,
        "fault_to_first_ok_ms": round((http["gap_end"] - t_fault) * 1000, 1) if covers else None,
        "takeover_seen_after_ms": round((t_takeover - t_fault) * 1000, 1),
        # Phase-free: from the last advert B received from A to the client's first answer after the kill.
        "after_last_advert_ms": (round((http["gap_end"] - last_adv) * 1000, 1) if (last_adv and covers) else None),
        "kill_phase_ms": round((t_fault - last_adv) * 1000, 1) if last_adv else None,
        "action_ms": round((t_action_end - t_fault) * 1000, 1) if t_action_end else None,
        "http_tail_gap_ms": http["tail_gap_ms"], "served_by": http["served_by"],
        "transitions": {n: count_transitions(daemon, logs[n]) for n in logs},
    }
    if http["tail_gap_ms"] is None or http["tail_gap_ms"] > 500:
        raise LabError(f"{tag}: the client was not served at the end: {http}")
    # Back to the baseline.
    if scenario == "hard-kill":
        lab.run(f"ip -n $(lab_ns a) addr del {VIP}/24 dev eth0 2>/dev/null; lab_link_up a")  # A "rebooted"
        daemon.start(lab, "a")
    elif scenario == "graceful-stop":
        daemon.start(lab, "a")
    else:
        daemon.unplan(lab)
    wait_baseline(lab, daemon, 30)
    return detail


def starvation_run(lab, daemon, seconds, index):
    tag = f"starve-{index}"
    files = start_probes(lab, tag, max_duration=seconds + 120)
    time.sleep(1.0)
    marks = {n: len(lab.log(n)) for n in ("a", "b")}
    load_before = os.getloadavg()[0]
    pid = int(lab.out(f"bench_start_stress {seconds}"))
    t0 = time.time()
    lab.wait_for(lambda: lab.run(f"lab_pid_is_ours {pid}", check=False)[0] != 0, seconds + 30, interval=0.5,
                 what="stress-ng to finish")
    lab.run("bench_stop_stress")
    t1 = time.time()
    time.sleep(1.0)
    res = stop_probes(lab, files)
    http, icmp = res["http"], res["icmp"]
    logs = {n: lab.log(n)[marks[n]:] for n in ("a", "b")}
    spurious = sum(count_transitions(daemon, t) for t in logs.values())
    lost_lines = sum(len(re.findall(r"peer \S+ lost", t)) for t in logs.values())
    stress_out = ""
    try:
        with open(os.path.join(lab.lab, "stress.err")) as f:
            stress_out = f.read()[-600:]
    except OSError:
        pass
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
    lab = LabShell(env={"INTERVAL": "100ms"})
    ok = False
    try:
        lab.up()
        lab.run(f"source {LAB_DIR}/benchlib.sh")
        lab.run("bench_start_bingo a >/dev/null; bench_start_bingo b >/dev/null")
        lab.run("bench_start_front a >/dev/null; bench_start_front b >/dev/null")
        daemon.start(lab, "a")
        daemon.start(lab, "b")
        wait_baseline(lab, daemon, 30)
        out, ready = (os.path.join(lab.lab, f"load.{x}") for x in ("json", "ready"))
        lab.run(f"lab_bg load c python3 {LAB_DIR}/httpprobe.py --interval {1 / rps:.6f} --timeout 10 "
                f"--duration {seconds} --paths '{LOAD_PATHS}' --out {out} --ready-file {ready} {VIP}")
        t0 = time.time()
        lab.wait_for(lambda: os.path.exists(ready), 15, what="load's first answer")
        time.sleep(max(0.0, kill_at - (time.time() - t0)))
        daemon.kill_hard(lab, "a")
        with open(os.path.join(lab.lab, "killtime.a")) as f:
            t_kill = float(f.read().split()[0])
        lab.wait_for(lambda: "b" in lab.holders() and daemon.state(lab, "b") == "master", 15, interval=0.05,
                     what="B to take over")
        lab.wait_for(lambda: os.path.exists(out), seconds + 60, interval=0.5, what="load result")
        lab.run("lab_kill_pid $(cat $LAB/bgpid.load) TERM 5")
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


def thread_cpu_ns(pid):
    """{thread id: nanoseconds on CPU} for PID's live threads (/proc/PID/task/*/schedstat)."""
    out = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                out[(pid, task)] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended meanwhile
    return out


def read_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_measure(lab, daemon, seconds):
    """CPU % of a core and the largest RSS of each node's daemon over `seconds`.

    CPU is summed per thread: a thread's last value seen counts even if it
    has ended by the end (libdispatch retires idle worker threads, and a sum
    over the threads alive at each end would drop their time or even go
    negative); a thread born in the window counts from zero. Samples every
    0.5 s, so an ended thread loses at most its last half second.
    """
    time.sleep(2.0)
    out = {}
    for node in ("a", "b"):
        out[node] = {"pids": daemon.pids(lab, node)}

    def sample(n):
        cpu = {}
        for p in out[n]["pids"]:
            cpu.update(thread_cpu_ns(p))
        return cpu

    first = {n: sample(n) for n in out}
    last = {n: dict(first[n]) for n in out}
    rss_max = {n: 0 for n in out}
    t0 = time.monotonic()
    while True:
        for n in out:
            last[n].update(sample(n))
            rss_max[n] = max(rss_max[n], sum(read_rss(p) for p in out[n]["pids"]))
        if time.monotonic() - t0 >= seconds:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    for n in out:
        cpu_ns = sum(v - first[n].get(t, 0) for t, v in last[n].items())
        out[n]["cpu_percent"] = round(100.0 * cpu_ns / 1e9 / elapsed, 3)
        out[n]["rss_kib"] = rss_max[n]
        out[n]["per_process_rss_kib"] = [read_rss(p) for p in out[n]["pids"]]
        out[n]["threads_seen"] = len(last[n])
    out["seconds"] = round(elapsed, 1)
    return out


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

def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None, None
    return min(vals), statistics.median(vals), max(vals)


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:.{nd}f}"


def table(results):
    rows = ["| scenario | interval | daemon | outage ms min / median / max | ICMP median ms | failed requests (sum of runs) | requests | spurious transitions | vipd ÷ keepalived (median) |",
            "|---|---|---|---|---|---|---|---|---|"]
    by = {(s["name"], s["advert_interval_ms"], s["daemon"]): s for s in results["scenarios"]}
    order = []
    for s in results["scenarios"]:
        k = (s["name"], s["advert_interval_ms"])
        if k not in order:
            order.append(k)
    order.sort(key=lambda k: (SCENARIOS.index(k[0]), -k[1]))
    for name, iv in order:
        med = {}
        for d in ("vipd", "keepalived"):
            s = by.get((name, iv, d))
            if s:
                med[d] = stats(s.get("outage_ms", []))[1]
        ratio = "–"
        if med.get("vipd") is not None and med.get("keepalived"):
            ratio = f"{med['vipd'] / med['keepalived']:.2f}"
        for d in ("vipd", "keepalived"):
            s = by.get((name, iv, d))
            if not s:
                continue
            lo, mid, hi = stats(s.get("outage_ms", []))
            imid = stats(s.get("icmp_outage_ms", []))[1]
            spur = s.get("spurious_transitions")
            note = "(track_file prio -100)" if (name == "planned-failover" and d == "keepalived") else ""
            rows.append(f"| {name}{' ' + note if note else ''} | {ms_to_interval(iv)} | {d} | {fmt(lo)} / {fmt(mid)} / {fmt(hi)} | "
                        f"{fmt(imid)} | {sum(s.get('failed_requests', [])) if s.get('failed_requests') else 0} | "
                        f"{sum(s.get('total_requests', []))} | {sum(spur) if spur is not None else '–'} | "
                        f"{ratio if d == 'vipd' else ''} |")
    hk = [s for s in results["scenarios"] if s["name"] == "hard-kill" and s.get("after_last_advert_ms")]
    if hk:
        rows.append("")
        rows.append("| hard-kill, phase removed | interval | daemon | last advert received → first answer, ms min / median / max |")
        rows.append("|---|---|---|---|")
        for s in sorted(hk, key=lambda s: (-s["advert_interval_ms"], s["daemon"] != "vipd")):
            lo, mid, hi = stats(s["after_last_advert_ms"])
            rows.append(f"| | {ms_to_interval(s['advert_interval_ms'])} | {s['daemon']} | {fmt(lo)} / {fmt(mid)} / {fmt(hi)} |")
    if results.get("idle"):
        rows.append("")
        rows.append("| idle (100ms) | daemon | master CPU % of a core | master RSS KiB | backup CPU % | backup RSS KiB |")
        rows.append("|---|---|---|---|---|---|")
        for i in results["idle"]:
            rows.append(f"| | {i['daemon']} | {i['cpu_percent']:.3f} | {i['rss_kib']} | "
                        f"{i.get('backup_cpu_percent', 0):.3f} | {i.get('backup_rss_kib', '–')} |")
    return "\n".join(rows)


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) // 1024 // 1024 + 1} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}{mem}, Linux {platform.release()}"


# --- main ------------------------------------------------------------------------------------

def _sigterm(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")


def main():
    quick = os.environ.get("BENCH_QUICK", "0") not in ("", "0")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", default=quick)
    p.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "0")) or None)
    p.add_argument("--intervals", default=os.environ.get("BENCH_INTERVALS"))
    p.add_argument("--scenarios", default=os.environ.get("BENCH_SCENARIOS"))
    p.add_argument("--daemons", default=os.environ.get("BENCH_DAEMONS", "vipd,keepalived"))
    p.add_argument("--starve-seconds", type=int, default=int(os.environ.get("BENCH_STARVE_SECONDS", "0")) or None)
    p.add_argument("--idle-seconds", type=int, default=int(os.environ.get("BENCH_IDLE_SECONDS", "0")) or None)
    p.add_argument("--out", default=os.environ.get("BENCH_OUT", os.path.join(REPO, "bench", "results.json")))
    p.add_argument("--render", metavar="RESULTS_JSON", help="only print the table of an existing results file")
    a = p.parse_args()
    if a.render:
        with open(a.render) as f:
            print(table(json.load(f)))
        return 0
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    runs = a.runs or (2 if a.quick else 5)
    intervals = [interval_to_ms(x) for x in (a.intervals or ("100ms,20ms" if a.quick else "1s,100ms,20ms")).split(",")]
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
    subprocess.run(["bash", "-c", f"source {LAB_DIR}/lib.sh; source {LAB_DIR}/benchlib.sh; lab_need_tools && bench_need_packages"],
                   check=True)
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
    try:
        for daemon_name in daemons_wanted:
            for iv in intervals:
                want = [s for s in scenarios
                        if (s in ("hard-kill", "graceful-stop", "planned-failover"))
                        or (s == "cpu-starvation" and iv == 20)
                        or (s in ("idle", "load-120rps-master-kill") and iv == 100)]
                if quick_default_intervals and iv == 20:
                    want = [s for s in want if s == "cpu-starvation"]  # quick: the rest at 100 ms only
                if not want:
                    continue
                base_daemon = Vipd() if daemon_name == "vipd" else Keepalived()
                lab = None
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
                            lab = open_lab(daemon, iv)
                            details["versions"][daemon_name] = daemon.version(lab)
                        entry = {"name": scen, "daemon": daemon_name, "advert_interval_ms": iv}
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
                            m = idle_measure(lab, daemon, idle_s)
                            results["idle"].append({"daemon": daemon_name, "advert_interval_ms": iv,
                                                    "cpu_percent": m["a"]["cpu_percent"], "rss_kib": m["a"]["rss_kib"],
                                                    "backup_cpu_percent": m["b"]["cpu_percent"],
                                                    "backup_rss_kib": m["b"]["rss_kib"]})
                            details["runs"].append({"scenario": "idle", "daemon": daemon_name, **m})
                            say(f"idle {daemon_name}: master {m['a']['cpu_percent']}% {m['a']['rss_kib']} KiB, "
                                f"backup {m['b']['cpu_percent']}% {m['b']['rss_kib']} KiB over {m['seconds']} s")
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
                                                          "lab": lab.lab if lab else None})
                                lab.close(keep=True)
                                lab = None
                                lab = open_lab(daemon, iv)
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
    finally:
        subprocess.run(["rm", "-rf", snap])
        details["elapsed_s"] = round(time.time() - t_start, 1)
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        # results.json in design.md's shape (no per-run details, no notes); details next to it.
        clean = dict(results)
        clean["scenarios"] = [{k: v for k, v in s.items() if k != "note"} for s in results["scenarios"]]
        with open(a.out, "w") as f:
            json.dump(clean, f, indent=1)
        with open(os.path.join(os.path.dirname(a.out), "details.json"), "w") as f:
            json.dump(details, f, indent=1)
        text = table(results)
        with open(os.path.join(os.path.dirname(a.out), "table.md"), "w") as f:
            f.write(text + "\n")
        print(text, flush=True)
        say(f"wrote {a.out} (+ details.json, table.md) in {details['elapsed_s']} s; "
            f"{len(details['errors'])} failed run(s)")
    return 1 if details["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
