"""Loads from the client namespace (lab/apiload.py per endpoint, timeline.py
during faults), their figures, and the shape of one item's result."""

import json
import os
import time

from vlab import VIP
from vlab.web import LAB_DIR

TIMELINE = os.path.join(LAB_DIR, "acceptance", "timeline.py")
P90_MS, ERR_PCT = 400, 1.0


def item(name, verdict, figure, detail=""):
    return {"name": name, "verdict": verdict, "figure": figure, "detail": detail}


def not_available(name, why):
    return item(name, "not-available", None, why)


def verdict(ok):
    return "pass" if ok else "fail"


def _run(inst, script, args, out, seconds):
    lab = inst.lab
    name = f"{os.path.basename(script).split('.')[0]}-{time.monotonic_ns()}"
    lab.python("c", script, *args, name=name, stdout=out if script.endswith("apiload.py") else None)
    return name


def _wait(inst, name, seconds):
    inst.lab.wait_for(lambda: not inst.lab.running(name), seconds + 60, f"{name} to finish", interval=0.2)


def apiload(inst, endpoint, seconds, rps=120, one_in_flight=False, ids_in=None, ids_out=None):
    """lab/apiload.py through the VIP; its JSON (total, failed, latency_ms...)."""
    out = os.path.join(inst.lab.dir, f"apiload.{time.monotonic_ns()}.json")
    args = [VIP, "--endpoint", endpoint, "--duration", seconds, "--timeout", 10, "--scale", inst.scale]
    args += ["--one-in-flight"] if one_in_flight else ["--rps", rps]
    args += ["--ids-in", ids_in] if ids_in else []
    args += ["--ids-out", ids_out] if ids_out else []
    _wait(inst, _run(inst, os.path.join(LAB_DIR, "apiload.py"), args, out, seconds), seconds)
    with open(out) as f:
        return json.load(f)


class Timeline:
    """timeline.py in the background: start(), then the fault, then result()."""

    def __init__(self, inst, seconds, rps=120):
        self.inst, self.seconds, self.rps = inst, seconds, rps
        self.out = os.path.join(inst.lab.dir, f"timeline.{time.monotonic_ns()}.json")

    def start(self):
        self.name = _run(self.inst, TIMELINE, ["--host", VIP, "--rps", self.rps, "--duration", self.seconds,
                                               "--scale", self.inst.scale, "--out", self.out], None, self.seconds)
        self.t0 = time.time()
        return self

    def sleep_until(self, offset_s):
        time.sleep(max(0.0, self.t0 + offset_s - time.time()))

    def result(self):
        _wait(self.inst, self.name, self.seconds)
        with open(self.out) as f:
            data = json.load(f)
        return stats(data["records"], data["t0_epoch"])


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def stats(records, t0_epoch=0.0):
    """Totals, p90 over all requests, and the outage: the longest run of
    consecutive failed requests by start time, in ms from the first one's start
    to the start of the next request that succeeded (so one slow timeout does
    not stretch it), and how many failed in that run."""
    failed = [r for r in records if not r["ok"]]
    best, first, count = (0.0, 0, None), None, 0
    for r in records + [{"ok": True, "t": records[-1]["t"] if records else 0}]:
        if not r["ok"]:
            first = r["t"] if first is None else first
            count += 1
            continue
        if first is not None and (r["t"] - first) * 1000 > best[0]:
            best = ((r["t"] - first) * 1000, count, t0_epoch + first)
        first, count = None, 0
    reasons = {}
    for r in failed:
        key = (r["error"] or "").split(":")[0] or f"HTTP {r['status']}"
        reasons[key] = reasons.get(key, 0) + 1
    total = len(records)
    return {"total": total, "failed": len(failed), "failed_pct": round(100 * len(failed) / total, 2) if total else None,
            "p90_ms": percentile([r["ms"] for r in records], 0.9), "reasons": reasons,
            "outage_ms": round(best[0]), "outage_requests": best[1], "outage_at": best[2]}


def load_ok(s):
    return s["total"] > 0 and s["failed_pct"] <= ERR_PCT and s["p90_ms"] is not None and s["p90_ms"] < P90_MS


def load_figure(s):
    return f"{s['failed_pct']} % errors ({s['failed']}/{s['total']}), p90 {s['p90_ms']} ms"


def wait_true(predicate, timeout, interval=0.1):
    """Seconds until PREDICATE is true, or None after TIMEOUT s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return round(time.monotonic() - t0, 2)
        time.sleep(interval)
    return None
