"""Names shared by lab/bench.py and its helpers: scenarios and interval spelling."""

import re

SCENARIOS = ["hard-kill", "graceful-stop", "planned-failover", "cpu-starvation", "idle", "load-120rps-master-kill",
             "api-120rps"]


def interval_to_ms(text):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s)?\s*", text)
    if not m:
        raise SystemExit(f"bad interval {text!r}")
    return int(round(float(m.group(1)) * (1000 if m.group(2) == "s" else 1)))


def ms_to_interval(ms):
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
