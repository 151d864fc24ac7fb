#!/usr/bin/env python3
"""Load client for lab/bench_api.py: one bingo endpoint through the front,
either open-loop at --rps (a request starts every 1/rps s on a monotonic
schedule whatever the earlier ones do, each on a new connection, in its own
thread) or --one-in-flight (the next request starts when the last ended:
bingo.md requirement 4). Prints one JSON object: total, failed, by outcome,
latency_ms {p50, p90, p99} over ALL requests, a failure counted at the time
it took to fail (a timeout at --timeout), and the ids a POST /api/session
created (--ids-out) for the DELETE run to delete.

Only targets in 198.18.0.0/15 (the lab's range)."""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import random
import sys
import threading
import time

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
ID_RANGE = {"movie": 29_019, "customer": 500_000, "session": 5_000_000}


def request(target, port, method, path, body, timeout):
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(target, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        outcome = str(r.status)
    except TimeoutError:
        outcome, data = "timeout", b""
    except (OSError, http.client.HTTPException) as e:
        outcome, data = type(e).__name__, b""
    finally:
        conn.close()
    return outcome, (time.monotonic() - t0) * 1000, data


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--endpoint", required=True, help='e.g. "GET /api/movie/{id}"')
    p.add_argument("--rps", type=float, default=120)
    p.add_argument("--one-in-flight", action="store_true")
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--ids-in", help="DELETE: file of session ids to delete, one a line")
    p.add_argument("--ids-out", help="POST /api/session: write the created ids here")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0, help="of the data (prepare_db --scale): the id range")
    a = p.parse_args(argv)
    if ipaddress.ip_address(a.target) not in LAB_NET:
        raise SystemExit(f"{a.target} is not in {LAB_NET}")
    method, template = a.endpoint.split(" ", 1)
    rng = random.Random(a.seed)
    id_range = {k: max(1, round(v * a.scale)) for k, v in ID_RANGE.items()}
    ids = [int(x) for x in open(a.ids_in).read().split()] if a.ids_in else None
    lock = threading.Lock()
    results, created = [], []

    def one(n):
        body = None
        path = template
        if "{id}" in template:
            if ids is not None:
                if n >= len(ids):
                    return
                path = template.replace("{id}", str(ids[n]))
            else:
                kind = template.split("/")[2]
                path = template.replace("{id}", str(rng.randint(1, id_range[kind])))
        if template == "/operation":
            # Bits 32-35 stay 0: a harmless value (3/4/5 there would kill bingo).
            body = json.dumps({"operation": rng.randrange(1 << 32)}).encode()
        elif method == "POST" and template == "/api/session":
            body = json.dumps({"start_time": "2021-12-09T16:12:52.059188Z",
                               "customer_id": rng.randint(1, id_range["customer"]),
                               "movie_id": rng.randint(1, id_range["movie"])}).encode()
        outcome, ms, data = request(a.target, a.port, method, path, body, a.timeout)
        with lock:
            results.append((outcome, ms))
            if a.ids_out and outcome == "200":
                try:
                    created.append(json.loads(data)["id"])
                except (ValueError, KeyError, TypeError):
                    pass

    t_start = time.monotonic()
    threads = []
    n = 0
    if a.one_in_flight:
        while time.monotonic() - t_start < a.duration:
            one(n)
            n += 1
    else:
        limit = len(ids) if ids is not None else None
        while True:
            at = t_start + n / a.rps
            if at - t_start >= a.duration or (limit is not None and n >= limit):
                break
            time.sleep(max(0.0, at - time.monotonic()))
            t = threading.Thread(target=one, args=(n,), daemon=True)
            t.start()
            threads.append(t)
            n += 1
        for t in threads:
            t.join(a.timeout + 5)
    elapsed = time.monotonic() - t_start
    with lock:
        done = list(results)
    lat = sorted(ms for _, ms in done)
    by = {}
    for outcome, _ in done:
        by[outcome] = by.get(outcome, 0) + 1
    ok = sum(v for k, v in by.items() if k.startswith("2"))
    if a.ids_out:
        with open(a.ids_out, "w") as f:
            f.write("\n".join(map(str, created)) + "\n")
    json.dump({"endpoint": a.endpoint, "total": len(done), "failed": len(done) - ok,
               "by_outcome": by, "elapsed_s": round(elapsed, 1),
               "achieved_rps": round(len(done) / elapsed, 1) if elapsed else None,
               "latency_ms": {"p50": percentile(lat, 0.50), "p90": percentile(lat, 0.90),
                              "p99": percentile(lat, 0.99), "max": round(lat[-1], 1) if lat else None}},
              sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
