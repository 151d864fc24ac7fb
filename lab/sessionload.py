#!/usr/bin/env python3
"""The acceptance suite's session writes during a database fault: open loop
at --rps through the VIP, alternating POST /api/session (bingo.md's example
body) and DELETE /api/session/{id} of a session this client created earlier
and saw acknowledged. Every request is recorded; the ids whose POST was
answered 200 ("created") and whose DELETE was answered 200 ("deleted") are
what the database must show afterwards: each created id present unless it
was deleted, each deleted id absent. A DELETE that failed (timeout, 5xx) may
still have been committed after the answer was given up on: its id is in
"delete_unknown", and its absence is no loss.
Writes {"t0_epoch", "created", "deleted", "delete_unknown", "records"} to --out.
Only 198.18.0.0/15 targets."""

import argparse
import http.client
import ipaddress
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

LAB_NET = ipaddress.ip_network("198.18.0.0/15")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="198.18.0.100")
    p.add_argument("--rps", type=float, default=20)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--customer", type=int, default=100)
    p.add_argument("--movie", type=int, default=500)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if ipaddress.ip_address(a.host) not in LAB_NET:
        sys.exit(f"{a.host} is outside {LAB_NET}")
    lock = threading.Lock()
    created, deleted, unknown, pending, records = [], [], [], [], []
    body = json.dumps({"start_time": "2021-12-09T16:12:52.059188Z", "customer_id": a.customer, "movie_id": a.movie})
    t0, t0_epoch = time.monotonic(), time.time()

    def send(method, path, data):
        start = time.monotonic()
        status, text, error = 0, "", None
        try:
            conn = http.client.HTTPConnection(a.host, 80, timeout=a.timeout)
            conn.request(method, path, body=data, headers={"Connection": "close", "Content-Type": "application/json"})
            response = conn.getresponse()
            text, status = response.read().decode(errors="replace"), response.status
            conn.close()
        except Exception as exc:  # noqa: BLE001 -- every failure is data here
            error = type(exc).__name__
        with lock:
            records.append({"t": round(start - t0, 3), "endpoint": f"{method} /api/session", "status": status,
                            "ms": round((time.monotonic() - start) * 1000, 1), "ok": status == 200, "error": error})
        return status, text

    def post():
        status, text = send("POST", "/api/session", body)
        if status == 200:
            sid = json.loads(text)["id"]
            with lock:
                created.append(sid)
                pending.append(sid)

    def delete(sid):
        status = send("DELETE", f"/api/session/{sid}", None)[0]
        with lock:
            (deleted if status == 200 else unknown).append(sid)

    with ThreadPoolExecutor(max_workers=64) as pool:
        i = 0
        while i / a.rps < a.duration:
            due = t0 + i / a.rps
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            with lock:
                sid = pending.pop(0) if i % 2 and pending else None
            pool.submit(delete, sid) if sid is not None else pool.submit(post)
            i += 1
    with open(a.out + ".tmp", "w") as f:
        json.dump({"t0_epoch": t0_epoch, "created": created, "deleted": deleted, "delete_unknown": unknown,
                   "records": sorted(records, key=lambda r: r["t"])}, f)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
