#!/usr/bin/env python3
"""The acceptance suite's load during faults: open loop at --rps through the
VIP over the five latency-bound endpoints of bingo.md requirement 3, each
request recorded with its start time, so the outage (the longest run of
failed requests) can be read afterwards. lab/apiload.py measures one
endpoint and prints totals only; this reuses lab/front_client.py's request,
recorder and percentile and writes every record:
{"t0_epoch", "records": [{"t", "endpoint", "status", "ms", "ok", "error"}]}.
Only 198.18.0.0/15 targets."""

import argparse
import ipaddress
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from apiload import ID_RANGE  # noqa: E402
from front_client import LAB_NET, Recorder, one_request  # noqa: E402


def pick(rng, ids):
    r = rng.randrange(5)
    if r == 0:   # bits 32-35 zero: a harmless value
        return "POST /operation", "POST", "/operation", json.dumps({"operation": rng.randrange(1 << 32)})
    if r == 1:
        return "GET /db_dummy", "GET", "/db_dummy", None
    kind = ("movie", "customer", "session")[r - 2]
    return f"GET /api/{kind}/{{id}}", "GET", f"/api/{kind}/{rng.randint(1, ids[kind])}", None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="198.18.0.100")
    p.add_argument("--rps", type=float, default=120)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if ipaddress.ip_address(a.host) not in LAB_NET:
        sys.exit(f"{a.host} is outside {LAB_NET}")
    ids = {k: max(1, round(v * a.scale)) for k, v in ID_RANGE.items()}
    rng = random.Random(1)
    t0 = time.monotonic()
    t0_epoch = time.time()
    rec = Recorder(t0)
    with ThreadPoolExecutor(max_workers=256) as pool:
        i = 0
        while i / a.rps < a.duration:
            due = t0 + i / a.rps
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            pool.submit(one_request, a.host, 80, a.timeout, *pick(rng, ids), rec)
            i += 1
    with open(a.out + ".tmp", "w") as f:
        json.dump({"t0_epoch": t0_epoch, "records": sorted(rec.records, key=lambda r: r["t"])}, f)
    os.replace(a.out + ".tmp", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
