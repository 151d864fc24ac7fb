"""python3 -m lab.acceptance [--quick] [--items NAME,...] [--out FILE]

Builds the installation (install.py), runs the items in order, prints one row
per item (PASS/FAIL/N/A and its figure) and writes the JSON
{"items": [...], "run": {commit, date, machine, options}}. An item that is
not run is reported not-available with why. Exit 0 when the suite ran to
the end (failing items are results, not errors); 2 when it could not run."""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback

LAB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, LAB)

from vlab import LabError, say  # noqa: E402

from . import items_api, items_cache, items_db, items_faults, items_http, items_start  # noqa: E402
from .install import POOL, Installation  # noqa: E402
from .measure import item, not_available  # noqa: E402

REPO = os.path.dirname(LAB)
ITEMS = {**items_start.ITEMS, **items_cache.ITEMS, **items_api.ITEMS, **items_http.ITEMS, **items_faults.ITEMS,
         **items_db.ITEMS}


def run_meta(a):
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    return {"commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": f"{platform.node()}, {os.cpu_count()} x {cpu}, Linux {platform.release()}",
            "options": {"quick": a.quick, "scale": a.scale, "pool": a.pool, "seconds_per_load_item": a.seconds,
                        "items": a.items or "all", "email": a.email}}


def table(items):
    width = max(len(i["name"]) for i in items)
    tag = {"pass": "PASS", "fail": "FAIL", "not-available": "N/A"}
    rows = [f"{'item':<{width}}  verdict  figure", "-" * (width + 60)]
    rows += [f"{i['name']:<{width}}  {tag[i['verdict']]:<7}  {i['figure'] or i['detail']}" for i in items]
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI: small data, 10 s per load item")
    p.add_argument("--items", help="comma-separated item names (default: all)")
    p.add_argument("--scale", type=float, help="of the data (default 1, --quick 0.002)")
    p.add_argument("--seconds", type=int, help="per load item (default 60, --quick 10)")
    p.add_argument("--email", default="operator@example.org", help="student_email of both nodes")
    p.add_argument("--no-http3", action="store_true", help="the host's nginx, no trixie fetch")
    p.add_argument("--pool", type=int, default=POOL, help=f"bingo pool members per node (default {POOL}, "
                   "roles/bingo's bingo_pool_size; 1: a single bingo per node)")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "acceptance.json"))
    a = p.parse_args(argv)
    a.scale = a.scale or (0.002 if a.quick else 1.0)
    a.seconds = a.seconds or (10 if a.quick else 60)
    names = [n.strip() for n in a.items.split(",")] if a.items else list(ITEMS)
    unknown = [n for n in names if n not in ITEMS]
    if unknown:
        p.error(f"unknown items {unknown}; known: {', '.join(ITEMS)}")
    if os.geteuid() != 0:
        sys.exit("the acceptance suite needs root (network namespaces)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # so the finally below cleans up
    t0 = time.time()
    results, failed = [], False
    inst = Installation(a.scale, a.email, http3=not a.no_http3, pool=a.pool)
    try:
        inst.up()
        for name in ITEMS:
            if name not in names:
                results.append(not_available(name, "not selected (--items)"))
                continue
            say(f"item {name}", "acceptance")
            try:
                r = ITEMS[name](inst, a.seconds)
            except (LabError, OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
                traceback.print_exc()
                r = item(name, "fail", None, f"the check itself failed: {type(e).__name__}: {e}"[:500])
                try:
                    inst.settle()
                except LabError as e2:
                    say(f"installation not whole after {name}: {e2}", "acceptance")
            say(f"  -> {r['verdict']}: {r['figure']}", "acceptance")
            results.append(r)
    except LabError as e:
        failed = True
        say(f"could not build or keep the installation: {e}\n{inst.lab.diag() if inst.lab.dir else ''}", "acceptance")
        done = {r["name"] for r in results}
        results += [not_available(n, f"the lab failed: {e}".splitlines()[0][:300]) for n in ITEMS if n not in done]
    finally:
        inst.close(failed=failed and os.environ.get("LAB_KEEP") == "1")
    run = run_meta(a)
    with open("/proc/loadavg") as f:   # the machine is shared: other work shows here
        loadavg = f.read().split()[:3]
    run.update(elapsed_s=round(time.time() - t0), setup=inst.timings, nginx=inst.nginx or "/usr/sbin/nginx",
               loadavg_at_end=loadavg)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"items": results, "run": run}, f, indent=1)
        f.write("\n")
    print(table(results), flush=True)
    say(f"wrote {a.out} in {run['elapsed_s']} s", "acceptance")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
