#!/usr/bin/env python3
"""Benchmark `api-120rps`: bingo's API through one nginx front (the
project's site, conf/nginx) and two bingo stand-ins on the FULL-SIZE data
(5 M sessions, 500 k customers, 29,019 movies), without and then with the
indexes of deploy/ansible/roles/postgresql/files/bingo-indexes.sql -- the
file the installation applies, not anything of the stand-in's.

Lab (lab/vlab, namespaces and 198.18.0.0/15 only; everything stopped by
PID, also on failure): node a runs PostgreSQL 15 on 198.18.0.1:5432 (shared
by both stand-ins, Debian's defaults plus listen address), a stand-in and
nginx; node b a stand-in; the client in c sends to nginx on 198.18.0.1:80.

Per endpoint of bingo.md's requirements (lab/apiload.py, 60 s each):
  3: POST /operation, GET /db_dummy, /api/movie/{id}, /api/customer/{id},
     /api/session/{id}: 120 RPS open loop, new connection per request;
  4: GET /api/movie, /api/customer, /api/session: one in flight at a time;
  5: POST /api/session at 120 RPS, then DELETE /api/session/{id} of the
     sessions it created, at 120 RPS.
Latency percentiles are over all requests, a failure counted at the time it
took to fail (10 s client timeout).

Run alone:  python3 lab/bench_api.py  (or BENCH_SCENARIOS=api-120rps make bench)
Options/env: --seconds (BENCH_API_SECONDS, 60), --scale (BENCH_API_SCALE, 1.0:
full size; smaller only for a smoke run), --out (bench/results.json, merged:
other scenarios are kept), LAB_KEEP=1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)
sys.path.insert(0, LAB_DIR)
from benchreport import merged  # noqa: E402
from vlab import Lab, LabError  # noqa: E402
from vlab.util import say as lab_say  # noqa: E402

INDEXES_SQL = os.path.join(REPO, "deploy", "ansible", "roles", "postgresql", "files", "bingo-indexes.sql")
DB_ADDR, FRONT = "198.18.0.1", "198.18.0.1"
EMAIL = "bench@example.com"
NAME = "api-120rps"
# (requirement, endpoint, mode): mode "rps" = 120 RPS open loop, "one" = one in flight.
PLAN = [(3, "POST /operation", "rps"), (3, "GET /db_dummy", "rps"), (3, "GET /api/movie/{id}", "rps"),
        (3, "GET /api/customer/{id}", "rps"), (3, "GET /api/session/{id}", "rps"),
        (4, "GET /api/movie", "one"), (4, "GET /api/customer", "one"), (4, "GET /api/session", "one"),
        (5, "POST /api/session", "rps"), (5, "DELETE /api/session/{id}", "rps")]


def say(text):
    lab_say(text, "bench-api")


def start_standin(lab, node, pg, knobs=(), command="run_server"):
    """The stand-in on NODE (as user vipd: bingo refuses root), on PostgreSQL
    PG, as the front's backend. vlab's kind knobs: --port 30164 and --log-dir
    (the nginx site's upstream names that port; discovering the email-derived
    ones is the installation's work, not this benchmark's); --lifetime never
    (a death in the middle of a 60 s endpoint run would measure the failover,
    not the API; deaths are tested in Tests/standin); no control port."""
    return lab.start_bingo(node, email=EMAIL, db=[(DB_ADDR, pg.port)], knobs=knobs, control=False,
                           command=command, wait=command == "run_server")


def fresh_start(lab, pg):
    """Every endpoint starts from new instances and a quiet front: requests
    still queued for the pool of 2 from the last endpoint (their clients
    gave up long ago) would otherwise run on for minutes. The stand-ins are
    stopped by PID, their queries ended, then nginx's fail_timeout (10 s,
    the default) passes so it has forgotten the last run's failures."""
    for n in ("a", "b"):
        lab.stop(f"bingo-{n}", timeout=10)
    pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'bingo'")
    for n in ("a", "b"):
        lab.restart_bingo(n)
    time.sleep(11)


def load(lab, endpoint, mode, seconds, scale, ids_in=None, ids_out=None):
    name = f"apiload.{time.monotonic_ns()}"
    out = os.path.join(lab.dir, f"{name}.json")
    args = ["--endpoint", endpoint, "--duration", seconds, "--timeout", 10, "--scale", scale]
    args += ["--one-in-flight"] if mode == "one" else ["--rps", 120]
    if ids_in:
        args += ["--ids-in", ids_in]
    if ids_out:
        args += ["--ids-out", ids_out]
    lab.python("c", "apiload.py", FRONT, *args, name=name, stdout=out)
    lab.wait_for(lambda: not lab.running(name), seconds + 120, what=f"{endpoint} load to finish", interval=0.2)
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise LabError(f"apiload.py {endpoint} gave no result: {lab.log(name)[-1500:]}") from None


def run(seconds=60, scale=1.0):
    """Returns (entries for results.json, details)."""
    lab = Lab(interval_ms=100, need_vipd=False)
    pg = None
    ok = False
    entries, details = [], {"seconds": seconds, "scale": scale, "runs": []}
    try:
        lab.up()
        # Recorded in the lab's registry: stopped by PID at the end whatever happens.
        pg = lab.start_postgres("a", port=5432, settings={"fsync": "on", "max_connections": "100"})
        t0 = time.monotonic()
        start_standin(lab, "a", pg, knobs=("--scale", scale, "--seed", "1"), command="prepare_db")
        lab.wait_for(lambda: not lab.running("bingo-a"), 600, what="prepare_db", interval=0.2)
        details["prepare_db_s"] = round(time.monotonic() - t0, 1)
        done = [line for line in lab.log("bingo-a").splitlines() if line.startswith("prepare_db: ")]
        if not done:
            raise LabError(f"prepare_db failed: {lab.log('bingo-a')[-1500:]}")
        say(done[-1])
        for n in ("a", "b"):
            start_standin(lab, n, pg)
        lab.start_front("a")
        for indexes in (False, True):
            if indexes:
                t0 = time.monotonic()
                pg.psql(INDEXES_SQL, timeout=1800)
                details["indexes_s"] = round(time.monotonic() - t0, 1)
                say(f"indexes from {os.path.relpath(INDEXES_SQL, REPO)} in {details['indexes_s']} s")
            ids = os.path.join(lab.dir, f"created.{indexes}")
            for req, endpoint, mode in PLAN:
                say(f"{endpoint} ({'120 RPS' if mode == 'rps' else 'one in flight'}, {seconds} s, "
                    f"indexes {'on' if indexes else 'off'})")
                fresh_start(lab, pg)
                r = load(lab, endpoint, mode, seconds, scale,
                         ids_in=ids if endpoint.startswith("DELETE") else None,
                         ids_out=ids if endpoint == "POST /api/session" else None)
                method, path = endpoint.split(" ", 1)
                entries.append({"name": NAME, "endpoint": path, "method": method, "requirement": req,
                                "indexes": indexes, "p50_ms": [r["latency_ms"]["p50"]],
                                "p90_ms": [r["latency_ms"]["p90"]], "p99_ms": [r["latency_ms"]["p99"]],
                                "failed_requests": [r["failed"]], "total_requests": [r["total"]]})
                # Anything else running on the machine shows here (2 cores shared).
                with open("/proc/loadavg") as f:
                    r["loadavg_after"] = f.read().split()[0]
                details["runs"].append({"indexes": indexes, "requirement": req, **r})
                say(f"  -> {r['total']} requests, {r['failed']} failed {r['by_outcome']}, "
                    f"p50/p90/p99 {r['latency_ms']['p50']}/{r['latency_ms']['p90']}/{r['latency_ms']['p99']} ms")
        ok = True
        return entries, details
    finally:
        if pg is not None:
            pg.stop()
        lab.close(keep=os.environ.get("LAB_KEEP") == "1" or not ok)


def table(entries):
    rows = ["| req. | endpoint | indexes | requests | failed | p50 ms | p90 ms | p99 ms |",
            "|---|---|---|---|---|---|---|---|"]
    for e in sorted(entries, key=lambda e: (not e["indexes"] is False, e.get("requirement", 0))):
        rows.append(f"| {e.get('requirement', '')} | `{e.get('method', '')} {e['endpoint']}` | "
                    f"{'yes' if e['indexes'] else 'no'} | {sum(e['total_requests'])} | "
                    f"{sum(e['failed_requests'])} ({100 * sum(e['failed_requests']) / max(1, sum(e['total_requests'])):.1f} %) | "
                    f"{e['p50_ms'][0]} | {e['p90_ms'][0]} | {e['p99_ms'][0]} |")
    return "\n".join(rows)


def merge(path, entries, details):
    """Into results.json, keeping every other scenario; details beside it."""
    results = merged(path, {"scenarios": entries, "idle": []}, [NAME])
    results.setdefault("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(os.path.dirname(path), "api-details.json"), "w") as f:
        json.dump(details, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_API_SECONDS", "60")))
    p.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_API_SCALE", "1.0")))
    p.add_argument("--out", default=os.environ.get("BENCH_OUT", os.path.join(REPO, "bench", "results.json")))
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces, PostgreSQL as postgres)")
    t0 = time.time()
    try:
        entries, details = run(a.seconds, a.scale)
    except LabError as e:
        say(f"FAILED: {e}")
        return 1
    details["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    details["elapsed_s"] = round(time.time() - t0, 1)
    merge(a.out, entries, details)
    print(table(entries), flush=True)
    say(f"wrote {a.out} (+ api-details.json) in {details['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
