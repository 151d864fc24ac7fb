#!/usr/bin/env python3
"""HTTP load through the VIP for the front lab: an open-loop request
schedule at a fixed rate, mixed bingo endpoints, every request recorded.

Runs inside the client namespace:
    ip netns exec <P>-c python3 lab/front_client.py --rate 120 --duration 60 --out r.json

Mixes (see /work/shared/bingo.md):
  ping  GET /ping and GET /api/movie/{id} only (the health tests)
  bingo every endpoint: the latency-bound ones (POST /operation, GET /db_dummy,
        GET /api/{movie,customer,session}/{id}) carry most of the load;
        GET /long_dummy (cached by nginx); POST /api/session and
        DELETE /api/session/{id}; GET /ping. The whole-table lists
        (GET /api/movie, /api/customer, /api/session) are sent from one thread
        of their own every 2 s, so at most one is in flight, as bingo.md asks.

Open loop: request i starts at start + i/rate whatever the earlier ones do,
on a pool of worker threads, so a slow answer cannot slow the offered rate.
A new TCP connection per request (as many independent clients would).

A request fails on a connection error, a timeout (--timeout, default 10 s)
or a status other than 2xx; DELETE may answer 404 (the stand-ins do not share
a database, so the session may live on the other backend).

Output (--out FILE or stdout): one JSON object with totals, failures by
reason, per-endpoint count/failed/p50/p90/max in ms, "non_cached_p90_ms" over
the latency-bound endpoints, and the first 50 failures with their times.
Only 198.18.0.0/15 targets are accepted.
"""

import argparse
import http.client
import ipaddress
import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
LATENCY_BOUND = {"POST /operation", "GET /db_dummy", "GET /api/movie/{id}", "GET /api/customer/{id}",
                 "GET /api/session/{id}"}


def pick(mix, rng):
    """(endpoint label, method, path, body) for the next scheduled request."""
    if mix == "ping":
        return ("GET /ping", "GET", "/ping", None) if rng.random() < 0.5 else \
            ("GET /api/movie/{id}", "GET", f"/api/movie/{rng.randint(1, 200)}", None)
    r = rng.random()
    if r < 0.22:
        return "POST /operation", "POST", "/operation", json.dumps({"operation": rng.randint(1, 10 ** 6)})
    if r < 0.36:
        return "GET /db_dummy", "GET", "/db_dummy", None
    if r < 0.50:
        return "GET /api/movie/{id}", "GET", f"/api/movie/{rng.randint(1, 200)}", None
    if r < 0.64:
        return "GET /api/customer/{id}", "GET", f"/api/customer/{rng.randint(1, 200)}", None
    if r < 0.78:
        return "GET /api/session/{id}", "GET", f"/api/session/{rng.randint(1, 500)}", None
    if r < 0.88:
        return "GET /long_dummy", "GET", "/long_dummy", None
    if r < 0.93:
        return "POST /api/session", "POST", "/api/session", json.dumps(
            {"start_time": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
             "customer_id": rng.randint(1, 200), "movie_id": rng.randint(1, 200)})
    if r < 0.96:
        return "DELETE /api/session/{id}", "DELETE", f"/api/session/{rng.randint(1, 10 ** 6)}", None
    return "GET /ping", "GET", "/ping", None


class Recorder:
    def __init__(self, t0):
        self.t0 = t0
        self.lock = threading.Lock()
        self.records = []

    def add(self, **record):
        with self.lock:
            self.records.append(record)


def one_request(host, port, timeout, label, method, path, body, recorder):
    start = time.monotonic()
    status, error = 0, None
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
        conn.close()
    except Exception as exc:  # noqa: BLE001 -- every failure is data here
        error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    took = (time.monotonic() - start) * 1000
    ok = error is None and (200 <= status < 300 or (method == "DELETE" and status == 404))
    recorder.add(t=round(start - recorder.t0, 3), endpoint=label, status=status, ms=round(took, 1), ok=ok,
                 error=error)


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return round(ordered[index], 1)


def summarize(records, duration, rate, mix):
    by_endpoint = {}
    for r in records:
        by_endpoint.setdefault(r["endpoint"], []).append(r)
    endpoints = {
        name: {"count": len(rs), "failed": sum(not r["ok"] for r in rs),
               "p50_ms": percentile([r["ms"] for r in rs], 50), "p90_ms": percentile([r["ms"] for r in rs], 90),
               "max_ms": max(r["ms"] for r in rs)}
        for name, rs in sorted(by_endpoint.items())}
    failures = [r for r in records if not r["ok"]]
    reasons = {}
    for r in failures:
        key = r["error"].split(":")[0] if r["error"] else f"HTTP {r['status']}"
        reasons[key] = reasons.get(key, 0) + 1
    bound = [r["ms"] for r in records if r["endpoint"] in LATENCY_BOUND]
    return {"mix": mix, "rate": rate, "duration_s": duration, "total": len(records), "failed": len(failures),
            "failed_percent": round(100 * len(failures) / len(records), 3) if records else None,
            "failure_reasons": reasons, "non_cached_p90_ms": percentile(bound, 90),
            "endpoints": endpoints, "first_failures": sorted(failures, key=lambda r: r["t"])[:50]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="198.18.0.100")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--rate", type=float, default=40.0, help="requests per second")
    p.add_argument("--duration", type=float, default=0, help="seconds (0: until --stop-file appears)")
    p.add_argument("--stop-file")
    p.add_argument("--ready-file", help="created once the first request has been answered")
    p.add_argument("--mix", choices=("ping", "bingo"), default="ping")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=96)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args()
    if ipaddress.ip_address(args.host) not in LAB_NET:
        sys.exit(f"{args.host} is outside 198.18.0.0/15")
    if not args.duration and not args.stop_file:
        sys.exit("give --duration or --stop-file")

    rng = random.Random(args.seed)
    t0 = time.monotonic()
    recorder = Recorder(t0)
    stop = threading.Event()

    def lists():  # whole-table endpoints: one in flight at a time
        names = ("movie", "customer", "session")
        i = 0
        while not stop.wait(2.0):
            name = names[i % 3]
            one_request(args.host, args.port, args.timeout, f"GET /api/{name}", "GET", f"/api/{name}", None, recorder)
            i += 1

    list_thread = threading.Thread(target=lists, daemon=True)
    if args.mix == "bingo":
        list_thread.start()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        i = 0
        while True:
            due = t0 + i / args.rate
            now = time.monotonic()
            if args.duration and due - t0 >= args.duration:
                break
            if args.stop_file and os.path.exists(args.stop_file):
                break
            if due > now:
                time.sleep(min(due - now, 0.05))
                continue
            label, method, path, body = pick(args.mix, rng)
            pool.submit(one_request, args.host, args.port, args.timeout, label, method, path, body, recorder)
            i += 1
            if args.ready_file and i == 1:
                while not recorder.records and time.monotonic() - t0 < args.timeout:
                    time.sleep(0.01)
                open(args.ready_file, "w").close()
        stop.set()
    if list_thread.is_alive():
        list_thread.join(timeout=args.timeout + 1)
    duration = round(time.monotonic() - t0, 2)
    result = summarize(recorder.records, duration, args.rate, args.mix)
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.out + ".tmp", args.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
