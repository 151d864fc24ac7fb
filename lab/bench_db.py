#!/usr/bin/env python3
"""`make bench`'s database entries (issue 15): the replicated PostgreSQL pair
of the lab (lab/vlab/pgcluster.py: primary, streaming synchronous standby,
vipd's db instance with quorum and a witness, vipd-pg on both nodes) under a
write load of 50 INSERTs/s through the database address (lab/pgload.py,
every acknowledged id recorded), RUNS times per fault:

  db-primary-kill   hard kill of the primary's node (link down + SIGKILL of
                    vipd, vipd-pg, PostgreSQL): kill -> standby promoted,
                    longest pause between acknowledged writes, acknowledged
                    writes missing on the new primary; the node restarted
                    (PostgreSQL as its data says, vipd, the agent) -> a
                    streaming, eligible standby again.
  db-standby-kill   the same for the standby's node: the write pause while
                    the primary waits alone_after for it.
  db-switchover     vipctl failover --instance db: pause, failed writes.
  db-partition      the primary's node cut off from both others for 10 s:
                    writes it acknowledged after the cut (must be 0), the
                    standby promoted after, missing writes.

Entries {"name", "runs", figures as lists, medians} into bench/results.json
(merged by lab/bench.py) and a table. Alone: python3 lab/bench_db.py
[--runs N] [--out FILE]; in make bench: BENCH_SCENARIOS=db-failover.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vlab import Lab  # noqa: E402
from vlab.pgcluster import PgCluster  # noqa: E402

CUT_S = 10.0
FIGURES = {
    "db-primary-kill": ("promoted_s", "max_write_pause_s", "lost_acknowledged", "failed_writes", "rejoined_s"),
    "db-standby-kill": ("max_write_pause_s", "lost_acknowledged", "failed_writes", "rejoined_s"),
    "db-switchover": ("promoted_s", "max_write_pause_s", "lost_acknowledged", "failed_writes", "rejoined_s"),
    "db-partition": ("promoted_s", "acknowledged_by_isolated", "lost_acknowledged", "rejoined_s"),
}


def say(text):
    sys.stderr.write(f"[bench-db {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def roles(db):
    return db.roles(90)


def _after(load, t):
    return [x for x in load["ack_times"] if x > t]


def _common(db, load, survivor, t0):
    return {"max_write_pause_s": load["max_gap_s"],
            "lost_acknowledged": len(db.missing(survivor, load["table"], load["acked"])),
            "failed_writes": len(load["unknown"]) + load["connect_failures"],
            "acknowledged_after_fault": len(_after(load, t0))}


def primary_kill(db, run):
    p, s = roles(db)
    table = f"pk{run}"
    db.start_load(table, via=p)
    time.sleep(2)
    t0, _ = db.kill_node(p)
    db.wait_role(s, "primary", 20)
    promoted = time.time() - t0
    time.sleep(3)
    t_restart = time.monotonic()
    db.restart_node(p)
    db.wait_settled(s, p, 90)
    rejoined = time.monotonic() - t_restart
    load = {**db.stop_load(table), "table": table}
    return {"promoted_s": round(promoted, 2), "rejoined_s": round(rejoined, 1), **_common(db, load, s, t0)}


def standby_kill(db, run):
    p, s = roles(db)
    table = f"sk{run}"
    db.start_load(table, via=p)
    time.sleep(2)
    t0, _ = db.kill_node(s)
    time.sleep(5)
    t_restart = time.monotonic()
    db.restart_node(s)
    db.wait_settled(p, s, 90)
    rejoined = time.monotonic() - t_restart
    load = {**db.stop_load(table), "table": table}
    return {"rejoined_s": round(rejoined, 1), **_common(db, load, p, t0)}


def switchover(db, run):
    p, s = roles(db)
    table = f"so{run}"
    db.start_load(table, via=p)
    time.sleep(2)
    t0 = time.time()
    db.lab.vipctl(p, "failover", "--instance", "db")
    db.wait_role(s, "primary", 20)
    promoted = time.time() - t0
    t_rejoin = time.monotonic()
    db.wait_settled(s, p, 90)
    rejoined = time.monotonic() - t_rejoin
    time.sleep(1)
    load = {**db.stop_load(table), "table": table}
    return {"promoted_s": round(promoted, 2), "rejoined_s": round(rejoined, 1), **_common(db, load, s, t0)}


def partition(db, run):
    """The primary's node cut off from the standby and the witness: one
    writer to its own address (what it acknowledges after the cut must be
    nothing), one to the database address (what survives)."""
    p, s = roles(db)
    own, main = f"pio{run}", f"pim{run}"
    db.start_load(own, via=p, host=db.lab.addr(p))
    db.start_load(main, via=p)
    time.sleep(2)
    t0 = time.time()
    db.cut_link(p, s)
    witness = db.lab.addr("d")
    db.lab.nsexec(p, "nft", "-f", "-", stdin=f"""table netdev benchwit {{
    chain in {{ type filter hook ingress device "eth0" priority 0; ip saddr {witness} drop; }}
    chain out {{ type filter hook egress device "eth0" priority 0; ip daddr {witness} drop; }}
}}""")
    try:
        db.wait_role(s, "primary", 20)
        promoted = time.time() - t0
        time.sleep(max(0.0, CUT_S - (time.time() - t0)))
    finally:
        db.lab.nsexec(p, "nft", "delete", "table", "netdev", "benchwit", check=False)
        db.cut_link(p, s, on=False)
    t_heal = time.monotonic()
    db.wait_settled(s, p, 90)
    rejoined = time.monotonic() - t_heal
    isolated = db.stop_load(own)
    load = {**db.stop_load(main), "table": main}
    return {"promoted_s": round(promoted, 2), "rejoined_s": round(rejoined, 1),
            "acknowledged_by_isolated": len([x for x in isolated["ack_times"] if x > t0 + 0.1]),
            **_common(db, load, s, t0)}


SCENARIOS = {"db-primary-kill": primary_kill, "db-standby-kill": standby_kill,
             "db-switchover": switchover, "db-partition": partition}


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def run(runs=5, names=tuple(SCENARIOS)):
    """One lab (nodes a, b, witness d) for all runs; returns (entries, details)."""
    lab = Lab(nodes=("a", "b", "d"), interval_ms=100)
    db = None
    entries, details = [], {"runs": [], "errors": []}
    try:
        lab.up()
        db = PgCluster(lab, witness="d")
        db.up()
        for name in names:
            figures = {k: [] for k in FIGURES[name]}
            for i in range(runs):
                try:
                    d = SCENARIOS[name](db, i)
                except Exception as e:   # one failed run is recorded, the rest go on
                    say(f"{name} run {i} FAILED: {e}")
                    details["errors"].append({"scenario": name, "run": i, "error": str(e)[:2000]})
                    continue
                details["runs"].append({"scenario": name, "run": i, **d})
                for k in figures:
                    figures[k].append(d.get(k))
                say(f"{name} run {i}: " + ", ".join(f"{k} {d.get(k)}" for k in FIGURES[name]))
            entries.append({"name": name, "runs": len(figures[FIGURES[name][0]]), **figures,
                            "median": {k: median(v) for k, v in figures.items()}})
    finally:
        if db is not None:
            db.close()
        lab.close(keep=os.environ.get("LAB_KEEP") == "1")
    return entries, details


def table(entries):
    lines = ["| database fault | runs | " + " | ".join(["promoted (s)", "longest write pause (s)", "failed writes",
                                                     "lost acknowledged", "acknowledged by the isolated node",
                                                     "back as standby (s)"]) + " |",
             "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        m = e["median"]

        def cell(k, total=False):
            if k not in m:
                return "-"
            return str(sum(v for v in e[k] if v is not None)) + " in all" if total else str(m[k])
        lines.append(f"| {e['name']} | {e['runs']} | {cell('promoted_s')} | {cell('max_write_pause_s')} | "
                     f"{cell('failed_writes')} | {cell('lost_acknowledged', True)} | "
                     f"{cell('acknowledged_by_isolated', True)} | {cell('rejoined_s')} |")
    return "\n".join(lines) + "\n\nMedians over the runs; lost and isolated-node acknowledgements summed over all runs."


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", default=None, help="write {'scenarios': entries} here")
    a = ap.parse_args()
    entries, details = run(a.runs, [s for s in a.scenarios.split(",") if s])
    print(table(entries))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"scenarios": entries, "details": details}, f, indent=1)
    return 1 if details["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
