#!/usr/bin/python3
"""A small write load on the DB address, to count what a database failover
costs: one INSERT at a time (autocommit, id 1, 2, 3, ...) into TABLE, at
most RATE a second, until SIGTERM; then one JSON object on stdout.

Each attempt ends one of three ways, told apart because only the first
must survive a failover and only the last may have reached the database:
- acknowledged: the COMMIT returned (its id is in "acked");
- not sent: connecting failed, so no INSERT left this client ("connect_failures");
- unknown: the connection broke or the server refused while the INSERT was
  out ("unknown": it may or may not be committed).

Debian's python3 (it has psycopg2): `ip netns exec NS /usr/bin/python3 lab/pgload.py --table t`.
The client side gives up on a dead server within ~2 s (tcp_user_timeout,
keepalives); a commit that waits for its synchronous standby is waited for.
"""

import argparse
import json
import signal
import sys
import time

import psycopg2


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="198.18.0.200")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--password", default="postgres")
    p.add_argument("--table", required=True)
    p.add_argument("--rate", type=float, default=50.0)
    args = p.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    acked, ack_times, unknown, errors = [], [], [], {}
    connect_failures = attempts = 0
    conn = None
    next_id = 1
    started = time.time()
    slowest = 0.0
    while not stop:
        t = time.time()
        try:
            if conn is None:
                phase = "connect"
                conn = psycopg2.connect(host=args.host, port=args.port, user="postgres", password=args.password,
                                        dbname="postgres", connect_timeout=2, keepalives=1, keepalives_idle=1,
                                        keepalives_interval=1, keepalives_count=2, tcp_user_timeout=2000,
                                        application_name="pgload")
                conn.autocommit = True
            phase = "insert"
            attempts += 1
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {args.table} (id) VALUES (%s)", (next_id,))
            acked.append(next_id)
            ack_times.append(time.time())
            slowest = max(slowest, time.time() - t)
            next_id += 1
        except psycopg2.Error as e:
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
            errors[f"{phase}: {msg}"] = errors.get(f"{phase}: {msg}", 0) + 1
            if phase == "connect":
                connect_failures += 1
            else:
                unknown.append(next_id)
                next_id += 1
            try:
                if conn is not None:
                    conn.close()
            except psycopg2.Error:
                pass
            conn = None
            time.sleep(0.05)
        left = 1.0 / args.rate - (time.time() - t)
        if left > 0:
            time.sleep(left)
    gaps = [(b - a, a) for a, b in zip(ack_times, ack_times[1:])]
    gap, gap_at = max(gaps, default=(0.0, started))
    json.dump({"acked": acked, "unknown": unknown, "connect_failures": connect_failures, "attempts": attempts,
               "max_gap_s": round(gap, 3), "gap_at": gap_at, "slowest_ack_s": round(slowest, 3),
               "ack_times": [round(x, 3) for x in ack_times], "errors": errors, "started": started}, sys.stdout)


if __name__ == "__main__":
    main()
