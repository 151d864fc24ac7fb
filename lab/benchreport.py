"""The report of lab/bench.py: the markdown table of results.json, and the machine line."""

import os
import platform
import statistics

from benchnames import SCENARIOS
from vlab import ms_to_interval


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None, None
    return min(vals), statistics.median(vals), max(vals)


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:.{nd}f}"


def table(results):
    rows = ["| scenario | interval | daemon | outage ms min / median / max | ICMP median ms | failed requests (sum of runs) | requests | spurious transitions | vipd ÷ keepalived (median) |",
            "|---|---|---|---|---|---|---|---|---|"]
    by = {(s["name"], s["advert_interval_ms"], s["daemon"]): s for s in results["scenarios"]}
    order = []
    for s in results["scenarios"]:
        k = (s["name"], s["advert_interval_ms"])
        if k not in order:
            order.append(k)
    order.sort(key=lambda k: (SCENARIOS.index(k[0]), -k[1]))
    for name, iv in order:
        med = {}
        for d in ("vipd", "keepalived"):
            s = by.get((name, iv, d))
            if s:
                med[d] = stats(s.get("outage_ms", []))[1]
        ratio = "–"
        if med.get("vipd") is not None and med.get("keepalived"):
            ratio = f"{med['vipd'] / med['keepalived']:.2f}"
        for d in ("vipd", "keepalived"):
            s = by.get((name, iv, d))
            if not s:
                continue
            lo, mid, hi = stats(s.get("outage_ms", []))
            imid = stats(s.get("icmp_outage_ms", []))[1]
            spur = s.get("spurious_transitions")
            note = "(track_file prio -100)" if (name == "planned-failover" and d == "keepalived") else ""
            rows.append(f"| {name}{' ' + note if note else ''} | {ms_to_interval(iv)} | {d} | {fmt(lo)} / {fmt(mid)} / {fmt(hi)} | "
                        f"{fmt(imid)} | {sum(s.get('failed_requests', [])) if s.get('failed_requests') else 0} | "
                        f"{sum(s.get('total_requests', []))} | {sum(spur) if spur is not None else '–'} | "
                        f"{ratio if d == 'vipd' else ''} |")
    hk = [s for s in results["scenarios"] if s["name"] == "hard-kill" and s.get("after_last_advert_ms")]
    if hk:
        rows.append("")
        rows.append("| hard-kill, phase removed | interval | daemon | last advert received → first answer, ms min / median / max |")
        rows.append("|---|---|---|---|")
        for s in sorted(hk, key=lambda s: (-s["advert_interval_ms"], s["daemon"] != "vipd")):
            lo, mid, hi = stats(s["after_last_advert_ms"])
            rows.append(f"| | {ms_to_interval(s['advert_interval_ms'])} | {s['daemon']} | {fmt(lo)} / {fmt(mid)} / {fmt(hi)} |")
    if results.get("idle"):
        rows.append("")
        rows.append("| idle (100ms) | daemon | master CPU % of a core | master RSS KiB | backup CPU % | backup RSS KiB |")
        rows.append("|---|---|---|---|---|---|")
        for i in results["idle"]:
            rows.append(f"| | {i['daemon']} | {i['cpu_percent']:.3f} | {i['rss_kib']} | "
                        f"{i.get('backup_cpu_percent', 0):.3f} | {i.get('backup_rss_kib', '–')} |")
    return "\n".join(rows)


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) // 1024 // 1024 + 1} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}{mem}, Linux {platform.release()}"
