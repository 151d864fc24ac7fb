"""The report of lab/bench.py: the markdown tables of results.json (the single
router's scenarios, then active-active, link-down, idle-instances), and the
machine line."""

import json
import os
import platform
import statistics

from benchnames import INSTANCE_SCENARIOS, SCENARIOS
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
    single = [s for s in results["scenarios"] if s["name"] not in INSTANCE_SCENARIOS]
    rows = ["| scenario | interval | daemon | outage ms min / median / max | ICMP median ms | failed requests (sum of runs) | requests | spurious transitions | vipd ÷ keepalived (median) |",
            "|---|---|---|---|---|---|---|---|---|"] if single else []
    by = {(s["name"], s["advert_interval_ms"], s["daemon"]): s for s in single}
    order = []
    for s in single:
        k = (s["name"], s["advert_interval_ms"])
        if k not in order:
            order.append(k)
    order.sort(key=lambda k: (SCENARIOS.index(k[0]), -k[1]))
    daemons = ("vipd", "vipd-adaptive", "keepalived")
    for name, iv in order:
        med = {}
        for d in daemons:
            s = by.get((name, iv, d))
            if s:
                med[d] = stats(s.get("outage_ms", []))[1]
        for d in daemons:
            s = by.get((name, iv, d))
            if not s:
                continue
            vs = ""
            if d != "keepalived":
                vs = f"{med[d] / med['keepalived']:.2f}" if med.get(d) is not None and med.get("keepalived") else "–"
            lo, mid, hi = stats(s.get("outage_ms", []))
            imid = stats(s.get("icmp_outage_ms", []))[1]
            spur = s.get("spurious_transitions")
            note = "(track_file prio -100)" if (name == "planned-failover" and d == "keepalived") else ""
            rows.append(f"| {name}{' ' + note if note else ''} | {ms_to_interval(iv)} | {d} | {fmt(lo)} / {fmt(mid)} / {fmt(hi)} | "
                        f"{fmt(imid)} | {sum(s.get('failed_requests', [])) if s.get('failed_requests') else 0} | "
                        f"{sum(s.get('total_requests', []))} | {sum(spur) if spur is not None else '–'} | "
                        f"{vs} |")
    hk = [s for s in results["scenarios"] if s["name"] == "hard-kill" and s.get("after_last_advert_ms")]
    if hk:
        rows.append("")
        rows.append("| hard-kill, phase removed | interval | daemon | last advert received → first answer, ms min / median / max |")
        rows.append("|---|---|---|---|")
        for s in sorted(hk, key=lambda s: (-s["advert_interval_ms"], daemons.index(s["daemon"])
                                           if s["daemon"] in daemons else 9)):
            lo, mid, hi = stats(s["after_last_advert_ms"])
            rows.append(f"| | {ms_to_interval(s['advert_interval_ms'])} | {s['daemon']} | {fmt(lo)} / {fmt(mid)} / {fmt(hi)} |")
    idle = [i for i in results.get("idle", []) if "instances" not in i]
    if idle:
        rows.append("")
        rows.append("| idle (100ms) | daemon | master CPU % of a core | master RSS KiB | backup CPU % | backup RSS KiB |")
        rows.append("|---|---|---|---|---|---|")
        by = {(i.get("when", ""), i["daemon"]): i for i in idle}
        for i in idle:
            rows.append(f"| {i.get('when', '')} | {i['daemon']} | {i['cpu_percent']:.3f} | {i['rss_kib']} | "
                        f"{i.get('backup_cpu_percent', 0):.3f} | {i.get('backup_rss_kib', '–')} |")
        for when in dict.fromkeys(i.get("when", "") for i in idle):
            v, k = by.get((when, "vipd")), by.get((when, "keepalived"))
            if v and k:
                rows.append(f"| {when} | vipd ÷ keepalived | {ratio(v['cpu_percent'], k['cpu_percent'])} | "
                            f"{ratio(v['rss_kib'], k['rss_kib'])} | {ratio(v.get('backup_cpu_percent'), k.get('backup_cpu_percent'))} | "
                            f"{ratio(v.get('backup_rss_kib'), k.get('backup_rss_kib'))} |")
    for part in (_active_active(results), _link_down(results), _idle_instances(results)):
        if part:
            rows += ([""] if rows else []) + part
    return "\n".join(rows)


def ratio(v, k):
    return f"{v / k:.2f}" if v is not None and k else "–"


def spread(values, nd=0):
    lo, mid, hi = stats(values)
    return f"{fmt(lo, nd)} / {fmt(mid, nd)} / {fmt(hi, nd)}"


def _section(entries, columns, key, value, row):
    """A table: COLUMNS, then per KEY(entry) a row for vipd and one for keepalived,
    ROW(key, entry, ratio) -> the cells after the first (empty) one; ratio = vipd ÷
    keepalived of the medians of VALUE, "" on keepalived's row."""
    if not entries:
        return []
    groups = {}
    for e in entries:
        groups.setdefault(key(e), {})[e["daemon"]] = e
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for k, by_daemon in groups.items():
        med = {d: stats(e.get(value, []))[1] for d, e in by_daemon.items()}
        r = ratio(med.get("vipd"), med.get("keepalived"))
        for d in ("vipd", "keepalived"):
            if d in by_daemon:
                rows.append("| | " + " | ".join(str(c) for c in row(k, by_daemon[d], r if d == "vipd" else "")) + " |")
    return rows


def _median(e, field, nd=0):
    return fmt(stats(e.get(field, []))[1], nd)


def _active_active(results):
    return _section(
        [s for s in results["scenarios"] if s["name"] == "active-active"],
        ["active-active", "interval", "killed → VIP moved", "daemon", "outage ms min / median / max",
         "last advert → first answer, median", "failback outage, median", "other VIP's longest gap, median",
         "failed requests (moved + failback)", "vipd ÷ keepalived (median outage)"],
        lambda e: (e["advert_interval_ms"], e["killed"]), "outage_ms",
        lambda k, e, r: [ms_to_interval(k[0]), f"{k[1]} → {e['instance']} {e['vip']}", e["daemon"],
                         spread(e["outage_ms"]), _median(e, "after_last_advert_ms"), _median(e, "failback_outage_ms"),
                         _median(e, "other_vip_outage_ms"),
                         f"{sum(e['failed_requests'])} + {sum(e['failback_failed_requests'])}", r])


def _link_down_row(k, e, r):
    res = e.get("resignation_ms", [])
    arrived = sum(x is not None for x in res)
    return [k[0], ms_to_interval(k[1]), e["daemon"], spread(e["takeover_ms"]), _median(e, "outage_ms"),
            # From the last advert only where no resignation arrived: otherwise that is the last advert.
            "–" if arrived else _median(e, "after_last_advert_ms"), f"{arrived} of {len(res)}",
            _median(e, "resignation_ms", 1), _median(e, "resignation_to_first_ok_ms"), sum(e["failed_requests"]), r]


def _link_down(results):
    return _section(
        [s for s in results["scenarios"] if s["name"] == "link-down"],
        ["link-down", "variant", "interval", "daemon", "carrier lost → first answer, ms min / median / max",
         "outage median", "last advert → first answer, median", "resignations at B",
         "carrier lost → resignation at B, median", "resignation → first answer, median", "failed requests",
         "vipd ÷ keepalived (median)"],
        lambda e: (e["variant"], e["advert_interval_ms"]), "takeover_ms", _link_down_row)


def _idle_instances(results):
    entries = [i for i in results.get("idle", []) if "instances" in i]
    by = {(i["advert_interval_ms"], i["instances"], i["daemon"]): i for i in entries}

    def row(k, e, r):
        other = by.get((*k, "keepalived"))
        rss = f", {ratio(e['rss_kib'], other['rss_kib'])}" if r and other else ""
        return [f"{ms_to_interval(k[0])}, {len(e.get('cpu_percent_runs', [])) or 1} run(s)", k[1], e["daemon"],
                f"{e['cpu_percent']:.3f}", fmt(e["rss_kib"]), f"{e['backup_cpu_percent']:.3f}",
                fmt(e["backup_rss_kib"]), f"{r}{rss}"]
    return _section(entries, ["idle-instances", "adverts, runs", "instances", "daemon", "master CPU % of a core",
                              "master RSS KiB", "backup CPU %", "backup RSS KiB",
                              "vipd ÷ keepalived: master CPU, RSS"],
                    lambda e: (e["advert_interval_ms"], e["instances"]), "cpu_percent_runs", row)


def merged(path, results, scenarios):
    """RESULTS (results.json's shape) with what the file PATH holds of SCENARIOS not
    run this time: its other scenarios' entries, and its idle entries of the kind
    not measured ("idle": no "instances" key; "idle-instances": with one)."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return results
    keep = [s for s in old.get("scenarios", []) if s.get("name") not in scenarios]
    keep_idle = [i for i in old.get("idle", []) if ("idle-instances" if "instances" in i else "idle") not in scenarios]
    return {**old, **results, "scenarios": keep + results.get("scenarios", []),
            "idle": keep_idle + results.get("idle", [])}


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
