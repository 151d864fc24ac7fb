"""The scenarios of lab/bench.py that need more than the lab's one virtual
router, or a second link; vipd and keepalived alike, on the same routers
(vlab.instances):

  active-active   two instances, web (198.18.0.100, master on A) and db
                  (198.18.0.101, master on B). Each run hard-kills A (web
                  moves to B), restarts it (web comes back: the failback),
                  then the same with B and db. Both VIPs probed throughout.
  link-down       the master A's link loses carrier (its switch port down),
                  its daemon alive and tracking that interface. one-link: the
                  heartbeats and the VIP share eth0; two-links: heartbeats on
                  eth0, the VIP on eth1 (a second network, vlab service=True),
                  and eth1 loses carrier.
  idle-instances  idle CPU and RSS of one daemon with N instances (2 nodes,
                  1 s adverts, A master of all), as the idle scenario measures
                  them (benchmeasure.idle_measure).

Outages are the client's, as for hard-kill (benchscenarios.start_probes and
outage_detail); kills and carrier losses at the same paired phases of the
advert cycle (benchmeasure).
"""

import os
import statistics
import time

from benchdaemons import Keepalived, Vipd
from benchmeasure import idle_measure, last_advert_before, phased_kill_time, start_advert_capture, target_phase_ms
from benchscenarios import fault_run, open_lab, outage_detail, start_probes, stop_probes, wait_baseline
from vlab import PREFIXLEN, SERVICE_VIP, VIP, Lab, LabError, ms_to_interval
from vlab.instances import Instance, crossed, numbered

AA_INTERVAL_MS = 100
IDLE_INTERVAL_MS = 1000
# link-down variants: (the instance, the VIP, the interface that loses carrier, lab options).
LINK_VARIANTS = {
    "one-link": (Instance("web", 51, f"{VIP}/{PREFIXLEN}", track=("eth0",)), VIP, "eth0", {}),
    "two-links": (Instance("web", 51, f"{SERVICE_VIP}/{PREFIXLEN}", device="eth1", track=("eth1",)),
                  SERVICE_VIP, "eth1", {"service": True}),
}
# The figures of one run that go into results.json, per scenario.
AA_KEYS = ("outage_ms", "icmp_outage_ms", "failed_requests", "total_requests", "after_last_advert_ms",
           "failback_outage_ms", "failback_failed_requests", "other_vip_outage_ms")
LINK_KEYS = ("takeover_ms", "outage_ms", "icmp_outage_ms", "failed_requests", "total_requests",
             "after_last_advert_ms", "resignation_ms", "resignation_to_first_ok_ms")


def make_daemon(name, instances):
    return Vipd(instances=instances) if name == "vipd" else Keepalived(instances=instances)


# --- active-active ---------------------------------------------------------------------

def wait_crossed(lab, daemon, timeout=30):
    """The active-active baseline: web master on A only, db master on B only."""
    web, db = crossed()
    want = {"a": {"web": "master", "db": "backup"}, "b": {"web": "backup", "db": "master"}}
    lab.wait_for(lambda: lab.holders(web.address) == ["a"] and lab.holders(db.address) == ["b"]
                 and all(daemon.states(lab, n) == want[n] for n in want), timeout, interval=0.05,
                 what=f"{daemon.name}: web master on A, db master on B")


def active_active_run(lab, daemon, interval_ms, index, of_runs):
    """Run INDEX: A hard-killed, rebooted, back; then B. One detail per killed node."""
    web, db = crossed()
    out = []
    for killed, survivor, moved, stayed in (("a", "b", web, db), ("b", "a", db, web)):
        tag = f"aa-{index}-{killed}"
        probes = {i.name: start_probes(lab, f"{tag}-{i.name}", address=i.address) for i in (moved, stayed)}
        capture = start_advert_capture(lab, tag, src=killed, at=survivor, vrid=moved.vrid)
        time.sleep(1.0)
        at = phased_kill_time(capture[1], interval_ms, target_phase_ms(index, of_runs, interval_ms))
        t_kill, t_down = daemon.kill_hard(lab, killed, at=at)
        lab.wait_for(lambda: survivor in lab.holders(moved.address)
                     and daemon.states(lab, survivor).get(moved.name) == "master",
                     15 + 10 * interval_ms / 1000, interval=0.02,
                     what=f"{daemon.name}: {survivor} to take {moved.name}")
        time.sleep(1.0)
        kill = {name: stop_probes(lab, files) for name, files in probes.items()}
        last_adv = last_advert_before(lab, *capture, t_down)
        # The failback: the killed node "reboots" and takes its instance back.
        probes = {i.name: start_probes(lab, f"{tag}-back-{i.name}", address=i.address) for i in (moved, stayed)}
        time.sleep(0.5)
        lab.reboot_link(killed, [web.vip, db.vip])
        t_back = time.time()
        daemon.start(lab, killed)
        wait_crossed(lab, daemon)
        t_restored = time.time()
        time.sleep(1.0)
        back = {name: stop_probes(lab, files) for name, files in probes.items()}
        d = {"run": index, "killed": killed, "instance": moved.name, "vip": moved.address,
             **outage_detail(kill[moved.name], t_kill, last_adv, f"{tag} {moved.name}")}
        failback = outage_detail(back[moved.name], t_back, None, f"{tag} failback {moved.name}")
        d.update({"failback_outage_ms": failback["outage_ms"], "failback_icmp_outage_ms": failback["icmp_outage_ms"],
                  "failback_failed_requests": failback["failed_requests"],
                  "failback_total_requests": failback["total_requests"],
                  "restart_to_baseline_ms": round((t_restored - t_back) * 1000, 1),
                  "failback_gap_at_ms": _gap_at(back[moved.name], t_back), "other_vip": stayed.address})
        # The VIP that stayed where it was: its longest gap in either window, and where it was.
        for window, r, t in (("kill", kill[stayed.name], t_kill), ("failback", back[stayed.name], t_back)):
            d[f"other_vip_{window}_gap_ms"] = outage_detail(r, t, None, f"{tag} {stayed.name}")["outage_ms"]
            d[f"other_vip_{window}_gap_at_ms"] = _gap_at(r, t)
        d["other_vip_outage_ms"] = max(d["other_vip_kill_gap_ms"], d["other_vip_failback_gap_ms"])
        d["other_vip_failed_requests"] = kill[stayed.name]["http"]["failed"] + back[stayed.name]["http"]["failed"]
        out.append(d)
    return out


def _gap_at(res, t):
    """Where the longest HTTP gap of stop_probes' RES began, in ms after T (the fault, the restart)."""
    start = res["http"]["gap_start"]
    return round((start - t) * 1000, 1) if start is not None else None


# --- idle with N instances ----------------------------------------------------------------

def wait_all_master(lab, daemon, instances, timeout):
    """A master of every instance and holding every VIP; B backup of all, holding none."""
    names = {i.name for i in instances}
    vips = {i.address for i in instances}

    def settled():
        return (vips <= lab.addresses("a") and not vips & lab.addresses("b")
                and daemon.states(lab, "a") == dict.fromkeys(names, "master")
                and daemon.states(lab, "b") == dict.fromkeys(names, "backup"))
    lab.wait_for(settled, timeout, interval=0.2, what=f"{daemon.name}: A master of {len(names)} instances")


def idle_instances_run(daemon_name, count, seconds):
    """A fresh lab at 1 s adverts, COUNT instances on both nodes; idle_measure of both."""
    instances = numbered(count)
    daemon = make_daemon(daemon_name, instances)
    lab = Lab(interval_ms=IDLE_INTERVAL_MS)
    ok = False
    try:
        lab.up()
        daemon.start(lab, "a")
        daemon.start(lab, "b")
        wait_all_master(lab, daemon, instances, 60)
        # vipd gives start-up pages back a second after its first election (docs/benchmarks.md, "Idle cost").
        time.sleep(2 * IDLE_INTERVAL_MS / 1000)
        m = idle_measure(lab, daemon, seconds)
        ok = True
        return m
    finally:
        lab.close(keep=os.environ.get("LAB_KEEP") == "1" or not ok)


# --- the driver ------------------------------------------------------------------------------

def run(scenarios, daemons, intervals, runs, idle_seconds, idle_runs, counts, results, details, say):
    """The scenarios of this file that SCENARIOS names, for every daemon of DAEMONS one
    after the other (so their ratios come from the same run), appended to RESULTS
    ("scenarios", "idle") and DETAILS ("runs", "errors")."""

    def failed(scen, daemon_name, iv, run, e, lab=None):
        say(f"{scen} {daemon_name} {ms_to_interval(iv)} run {run} FAILED: {e}")
        details["errors"].append({"scenario": scen, "daemon": daemon_name, "interval_ms": iv, "run": run,
                                  "error": str(e)[:2000], "lab": lab.dir if lab else None})

    def timed(scen, daemon_name, iv, n, opener, one_run, entries):
        """N runs of ONE_RUN(lab, index) -> [detail, ...] in the lab OPENER() makes (a new one
        after a failed run); each detail adds to the entry of its ENTRIES(detail) key."""
        lab = None
        try:
            for i in range(1, n + 1):
                try:
                    lab = lab or opener()
                    ds = one_run(lab, i)
                except LabError as e:
                    failed(scen, daemon_name, iv, i, e, lab)
                    if lab:
                        lab.close(keep=True)
                    lab = None
                    continue
                for d in ds:
                    entries(d)
                    details["runs"].append({"scenario": scen, "daemon": daemon_name, "interval_ms": iv, **d})
        finally:
            if lab:
                lab.close(keep=os.environ.get("LAB_KEEP") == "1")

    if "active-active" in scenarios:
        iv = AA_INTERVAL_MS
        for daemon_name in daemons:
            daemon = make_daemon(daemon_name, crossed())
            by_killed = {}

            def add(d, daemon_name=daemon_name):
                e = by_killed.setdefault(d["killed"], {
                    "name": "active-active", "daemon": daemon_name, "advert_interval_ms": iv, "killed": d["killed"],
                    "instance": d["instance"], "vip": d["vip"], **{k: [] for k in AA_KEYS}})
                for k in AA_KEYS:
                    e[k].append(d[k])
                say(f"active-active {daemon_name} run {d['run']}: {d['killed']} killed, {d['instance']} "
                    f"outage {d['outage_ms']} ms (after last advert {d['after_last_advert_ms']}), failback "
                    f"{d['failback_outage_ms']} ms, other VIP {d['other_vip_outage_ms']} ms, failed "
                    f"{d['failed_requests']}+{d['failback_failed_requests']}+{d['other_vip_failed_requests']}")
            say(f"active-active: {daemon_name} at {ms_to_interval(iv)}, {runs} runs")
            timed("active-active", daemon_name, iv, runs, lambda: open_lab(daemon, iv, baseline=wait_crossed),
                  lambda lab, i: active_active_run(lab, daemon, iv, i, runs), add)
            results["scenarios"].extend(by_killed[k] for k in sorted(by_killed))

    if "link-down" in scenarios:
        for iv in intervals:
            for variant, (inst, vip, dev, options) in LINK_VARIANTS.items():
                for daemon_name in daemons:
                    daemon = make_daemon(daemon_name, [inst])
                    entry = {"name": "link-down", "daemon": daemon_name, "advert_interval_ms": iv, "variant": variant,
                             **{k: [] for k in LINK_KEYS}}

                    def add(d, entry=entry, daemon_name=daemon_name, variant=variant):
                        d["takeover_ms"] = d["fault_to_first_ok_ms"]
                        for k in LINK_KEYS:
                            entry[k].append(d[k])
                        say(f"link-down {variant} {daemon_name} {ms_to_interval(entry['advert_interval_ms'])} run "
                            f"{d['run']}: carrier lost -> first answer {d['takeover_ms']} ms, "
                            f"outage {d['outage_ms']} ms "
                            f"(after last advert {d['after_last_advert_ms']}; resignation at B after "
                            f"{d['resignation_ms']} ms, then {d['resignation_to_first_ok_ms']} ms), "
                            f"failed {d['failed_requests']}")

                    def opener(daemon=daemon, vip=vip, dev=dev, options=options, iv=iv):
                        return open_lab(daemon, iv, baseline=lambda lab, d: wait_baseline(lab, d, 30, vip, dev),
                                        **options)
                    say(f"link-down: {variant}, {daemon_name} at {ms_to_interval(iv)}, {runs} runs")
                    timed("link-down", daemon_name, iv, runs, opener,
                          lambda lab, i, daemon=daemon, vip=vip, dev=dev, iv=iv:
                          [fault_run(lab, daemon, "link-down", iv, i, of_runs=runs, vip=vip, dev=dev)], add)
                    results["scenarios"].append(entry)

    if "idle-instances" in scenarios:
        per = {}
        # Run k of every (count, daemon) before run k + 1: the machine's drift hits them alike.
        for i in range(1, idle_runs + 1):
            for count in counts:
                for daemon_name in daemons:
                    try:
                        m = idle_instances_run(daemon_name, count, idle_seconds)
                    except LabError as e:
                        failed("idle-instances", daemon_name, IDLE_INTERVAL_MS, i, e)
                        continue
                    per.setdefault((daemon_name, count), []).append(m)
                    details["runs"].append({"scenario": "idle-instances", "daemon": daemon_name, "instances": count,
                                            "run": i, **m})
                    say(f"idle-instances {daemon_name} x{count} run {i}: master {m['a']['cpu_percent']}% "
                        f"{m['a']['rss_kib']} KiB, backup {m['b']['cpu_percent']}% {m['b']['rss_kib']} KiB")
        for count in counts:
            for daemon_name in daemons:
                ms = per.get((daemon_name, count))
                if not ms:
                    continue
                runs_of = {f"{k}_runs": [m[n][f] for m in ms]
                           for k, n, f in (("cpu_percent", "a", "cpu_percent"), ("rss_kib", "a", "rss_kib"),
                                           ("backup_cpu_percent", "b", "cpu_percent"),
                                           ("backup_rss_kib", "b", "rss_kib"))}
                # One entry per (daemon, instances): the medians over the runs, the runs beside them.
                results["idle"].append({"daemon": daemon_name, "instances": count,
                                        "advert_interval_ms": IDLE_INTERVAL_MS,
                                        **{k[:-5]: statistics.median(v) for k, v in runs_of.items()}, **runs_of})
