"""The API: each latency endpoint at 120 RPS (lab/apiload.py), the lists one
in flight, 60 RPS steady, and a session's POST, GET and DELETE through the VIP."""

import json
import time

from .items_cache import fetch
from .measure import ERR_PCT, P90_MS, Timeline, apiload, item, load_figure, load_ok, verdict

# /db_dummy last: it overloads the pool of 2 (100 ms a query) and leaves a queue behind.
LATENCY = ["POST /operation", "GET /api/movie/{id}", "GET /api/customer/{id}", "GET /api/session/{id}",
           "GET /db_dummy"]
LISTS = [("GET /api/movie", 1.0), ("GET /api/customer", 1.0), ("GET /api/session", 5.0)]   # bingo.md req. 4
SESSION_CYCLES = 100


def _figure(r):
    pct = round(100 * r["failed"] / r["total"], 2) if r["total"] else None
    return pct, f"{pct} % errors ({r['failed']}/{r['total']}), p90 {r['latency_ms']['p90']} ms, " \
                f"{r.get('achieved_rps')} RPS"


def latency(endpoint):
    def run(inst, seconds):
        r = apiload(inst, endpoint, seconds)
        pct, fig = _figure(r)
        ok = r["total"] > 0 and pct <= ERR_PCT and r["latency_ms"]["p90"] < P90_MS
        took = inst.drain() if not ok else (inst.settle() or 0)
        return item(f"latency {endpoint}", verdict(ok), fig,
                    f"lab/apiload.py at 120 RPS for {seconds} s through the VIP; outcomes {r['by_outcome']}"
                    + (f"; its queue drained {took if took is not None else 'not within 900'} s after the load"
                       if not ok else ""))
    return run


def one_in_flight(endpoint, max_pct):
    def run(inst, seconds):
        r = apiload(inst, endpoint, seconds, one_in_flight=True)
        pct, fig = _figure(r)
        inst.settle()
        return item(f"list {endpoint}", verdict(r["total"] > 0 and pct <= max_pct), fig,
                    f"one in flight (back to back) for {seconds} s, no latency target, pass at <= {max_pct} % errors; "
                    f"outcomes {r['by_outcome']} (429: bingo's 100 RPS quota, reached when a small table answers fast)")
    return run


def steady(inst, seconds):
    s = Timeline(inst, seconds, rps=60).start().result()
    inst.settle()
    return item("steady-60rps", verdict(load_ok(s)), load_figure(s),
                f"the five latency endpoints mixed, 60 RPS for {seconds} s; failures {s['reasons']}")


def rows(inst, full):
    """How many rows a table of FULL rows has at the installation's --scale."""
    return max(1, int(full * float(inst.scale)))


def session(inst, seconds):
    """POST /api/session, then GET and DELETE of that id, all through the VIP."""
    failed, steps, notes = 0, 0, {}
    t_end = time.time() + seconds
    for i in range(SESSION_CYCLES):
        if time.time() > t_end and i >= 20:
            break
        # bingo.md's example body; at a small --scale the ids are taken inside
        # the loaded tables (GET joins customers and movies: a missing one is a 404).
        body = json.dumps({"start_time": "2021-12-09T16:12:52.059188Z", "customer_id": min(100, rows(inst, 500_000)),
                           "movie_id": min(500, rows(inst, 29_019))})
        st, _, text, _ = fetch(inst, "/api/session", "POST", body)
        steps += 1
        try:
            sid = json.loads(text)["id"]
        except (ValueError, KeyError, TypeError):
            failed += 1
            notes[f"POST {st}"] = notes.get(f"POST {st}", 0) + 1
            continue
        for method in ("GET", "DELETE"):
            st, _, _, _ = fetch(inst, f"/api/session/{sid}", method)
            steps += 1
            if st != 200:
                failed += 1
                notes[f"{method} {st}"] = notes.get(f"{method} {st}", 0) + 1
    pct = round(100 * failed / steps, 2) if steps else None
    return item("session-create-read-delete", verdict(steps > 0 and pct <= ERR_PCT),
                f"{pct} % errors ({failed}/{steps} requests)",
                f"failures by step {notes}; nginx sends each request to either node's bingo, both on the "
                "replicated database at the DB address (postgresql_mode: replicated)")


ITEMS = {**{f"latency {e}": latency(e) for e in LATENCY},
         **{f"list {e}": one_in_flight(e, pct) for e, pct in LISTS},
         "steady-60rps": steady, "session-create-read-delete": session}
