"""The two "clock set, nothing cached that must not be" checks: every
uncached endpoint reaches bingo every time and shows the database's current
data; /long_dummy is cached, fast for 75 % and never older than 60 s."""

import email.utils
import json
import re
import secrets
import time

from vlab import VIP

from .measure import item, verdict

UNCACHED = [("GET", "/", 10), ("GET", "/ping", 10), ("GET", "/db_dummy", 10), ("GET", "/api/movie/{id}", 10),
            ("GET", "/api/customer/{id}", 10), ("GET", "/api/session/{id}", 10), ("POST", "/operation", 10),
            ("GET", "/api/movie", 2), ("GET", "/api/customer", 2)]
MOVIE = 7
CLOCK_SKEW_S = 2.0


def fetch(inst, path, method="GET", body=None, timeout=20):
    """(status, headers {lower-case name: value}, body, seconds) of one request through the VIP."""
    argv = ["curl", "--noproxy", "*", "-s", "-k", "-i", "-X", method, "--max-time", str(timeout),
            "-w", "\n%{time_total}"]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "-d", body]
    out = inst.lab.nsexec("c", *argv, f"http://{VIP}{path}", check=False, timeout=timeout + 5)
    text, _, took = out.rpartition("\n")
    head, _, payload = text.replace("\r\n", "\n").partition("\n\n")   # sh() reads text: newlines translated
    lines = head.split("\n")
    m = re.match(r"HTTP/\S+ (\d+)", lines[0] if lines else "")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:]))
    return (int(m.group(1)) if m else 0), headers, payload, float(took or 0)


def counts(inst):
    total = {}
    for m in inst.members():
        for k, v in json.loads(inst.lab.bingo_control(m, "state"))["requests_by_endpoint"].items():
            total[k] = total.get(k, 0) + v
    return total


def nothing_cached(inst, seconds=None):
    before = counts(inst)
    bad, skew = [], 0.0
    for method, path, n in UNCACHED:
        for i in range(n):
            status, headers, _, _ = fetch(inst, path.replace("{id}", str(i + 1)), method,
                                          '{"operation": 1}' if path == "/operation" else None)
            if status != 200 or "no-store" not in headers.get("cache-control", "") or headers.get("x-cache-status"):
                bad.append(f"{method} {path}: {status} {headers.get('cache-control')} {headers.get('x-cache-status')}")
            if "date" in headers:
                skew = max(skew, abs(time.time() - email.utils.parsedate_to_datetime(headers["date"]).timestamp()))
    after = counts(inst)
    delta = {f"{m} {p}": (after.get(f"{m} {p}", 0) - before.get(f"{m} {p}", 0), n) for m, p, n in UNCACHED}
    short = {k: d for k, (d, n) in delta.items() if d < n}
    # The database: a change is visible at once through the VIP (made on the
    # primary through the DB address, restored after).
    original = inst.db.psql_db(f"SELECT name FROM movies WHERE id = {MOVIE} LIMIT 1")
    seen = 0
    try:
        for _ in range(5):
            token = f"acceptance-{secrets.token_hex(4)}"
            inst.db.psql_db(f"UPDATE movies SET name = '{token}' WHERE id = {MOVIE}")
            seen += token in fetch(inst, f"/api/movie/{MOVIE}")[2]
    finally:
        inst.db.psql_db(f"UPDATE movies SET name = $q${original}$q$ WHERE id = {MOVIE}")
    sent = sum(n for _, _, n in UNCACHED)
    ok = not bad and not short and seen == 5 and skew <= CLOCK_SKEW_S
    return item("nothing-cached", verdict(ok),
                f"{sum(min(d, n) for d, n in delta.values())} of {sent} requests reached bingo; "
                f"{len(bad)} with a cache header; database change seen {seen}/5; clock skew {skew:.1f} s",
                f"requests counted by the stand-ins (control state); endpoints short of their count: {short}; "
                f"first bad answers: {bad[:3]}")


def long_dummy(inst, seconds):
    fast, ages, n, failed = 0, [], 0, 0
    t_end = time.time() + seconds
    while time.time() < t_end:
        status, _, body, took = fetch(inst, "/long_dummy")
        n += 1
        m = re.search(r"generated at ([0-9.]+)", body)
        if status != 200 or not m:
            failed += 1
        else:
            fast += took < 1.0
            ages.append(time.time() - float(m.group(1)))   # the stand-in's clock: same machine
        time.sleep(0.5)
    share = 100 * fast / n if n else 0
    oldest = max(ages) if ages else None
    ok = n > 0 and share >= 75 and oldest is not None and oldest <= 60
    return item("long-dummy-cache", verdict(ok),
                f"{share:.0f} % under 1 s ({fast}/{n}), oldest answer {oldest and round(oldest, 1)} s, {failed} failed",
                f"one GET /long_dummy every 0.5 s for {seconds} s; age = now - the stand-in's 'generated at'"
                + ("" if seconds >= 60 else " (shorter than the 46 s validity: no refresh observed)"))


ITEMS = {"nothing-cached": nothing_cached,
         # Long enough in the full run to see a refresh (validity 45 s, up to 46 s).
         "long-dummy-cache": lambda inst, seconds: long_dummy(inst, seconds if seconds < 60 else max(seconds, 70))}
