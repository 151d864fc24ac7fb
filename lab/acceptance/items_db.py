"""The database under faults (issue 15's measured items), through the VIP:
the five latency endpoints (timeline.py) at 100 RPS plus session writes
(lab/sessionload.py: POST /api/session and DELETE of acknowledged ids) at
20 RPS, 120 RPS in all, while the database primary's node dies hard, the
standby's node dies hard, or an operator switches the primary over. Each
item counts errors over the window, and afterwards asks the primary: every
acknowledged POST present, every acknowledged DELETE absent."""

import json
import os
import time

from vlab import VIP
from vlab.pgcluster import DB_VIP, PREFIXLEN
from vlab.web import LAB_DIR

from .install import NODES
from .measure import Timeline, _run, _wait, item, load_figure, load_ok, verdict, wait_true

SESSIONLOAD = os.path.join(LAB_DIR, "sessionload.py")
SESSION_RPS = 20
BACK_S = 60


def _writes(inst, seconds):
    out = os.path.join(inst.lab.dir, f"sessionload.{time.monotonic_ns()}.json")
    args = ["--rps", SESSION_RPS, "--duration", seconds, "--out", out,
            "--customer", min(100, max(1, int(500_000 * float(inst.scale)))),
            "--movie", min(500, max(1, int(29_019 * float(inst.scale))))]
    return _run(inst, SESSIONLOAD, args, None, seconds), out


def _lost(inst, data):
    """(created but missing, deleted but present) on the server at the DB address;
    a session whose DELETE failed may be gone (the DELETE may have committed)."""
    created, deleted = set(data["created"]), set(data["deleted"])
    unknown = set(data.get("delete_unknown", []))
    ids = sorted(created | deleted)
    present = set()
    for i in range(0, len(ids), 500):
        chunk = ",".join(map(str, ids[i:i + 500]))
        text = inst.db.psql_db(f"SELECT id FROM sessions WHERE id IN ({chunk})", via=_up_node(inst))
        present |= {int(x) for x in text.split()}
    return sorted((created - deleted - unknown) - present), sorted(deleted & present)


def _up_node(inst):
    return next(n for n in NODES if inst.db.role(n) in ("primary", "standby"))


def _restart(inst, node):
    """The node back as after a reboot: PostgreSQL as its data says, vipd, the agent."""
    lab, db = inst.lab, inst.db
    lab.reboot_link(node, address=[f"{DB_VIP}/{PREFIXLEN}", f"{VIP}/{PREFIXLEN}"])
    db.pg[node].ctl_start()
    inst.start_vipd(node)
    db.start_agent(node)


def _fault(name, action, what):
    def run(inst, seconds):
        db, lab = inst.db, inst.lab
        primary = next(n for n in NODES if db.role(n) == "primary")
        standby = next(n for n in NODES if n != primary)
        tl = Timeline(inst, seconds, rps=120 - SESSION_RPS).start()
        writer, out = _writes(inst, seconds)
        tl.sleep_until(seconds / 6)
        victim, back_role = action(inst, primary, standby)
        back = None
        if victim is not None:
            time.sleep(min(10.0, seconds / 3))
            t_restart = time.monotonic()
            _restart(inst, victim)
            back = wait_true(lambda: db.role(victim) == back_role and (db.agent_status(victim) or {}).get("eligible"),
                             90, 0.5)
            back = None if back is None else round(time.monotonic() - t_restart, 1)
        s = tl.result()
        _wait(inst, writer, seconds)
        with open(out) as f:
            data = json.load(f)
        writes_failed = sum(not r["ok"] for r in data["records"])
        missing, resurrected = _lost(inst, data)
        inst.settle()
        total = s["total"] + len(data["records"])
        failed = s["failed"] + writes_failed
        pct = round(100 * failed / total, 2) if total else None
        ok = (load_ok({**s, "failed_pct": pct}) and not missing and not resurrected
              and (victim is None or (back is not None and back < BACK_S)))
        return item(name, verdict(ok),
                    f"{pct} % errors ({failed}/{total}), p90 {s['p90_ms']} ms; {len(data['created'])} POSTs and "
                    f"{len(data['deleted'])} DELETEs acknowledged: {len(missing)} missing, {len(resurrected)} back "
                    f"({len(data.get('delete_unknown', []))} DELETEs of unknown outcome); "
                    + (f"{victim} back as {back_role} after {back} s" if victim else "no node down"),
                    f"{what} at {seconds / 6:.0f} s of {seconds} s, {120 - SESSION_RPS} RPS of the latency endpoints + "
                    f"{SESSION_RPS} RPS of POST/DELETE /api/session through the VIP; load failures {s['reasons']}, "
                    f"session writes failed {writes_failed}; missing {missing[:5]}, resurrected {resurrected[:5]}")
    return run


def _kill_primary(inst, primary, standby):
    inst.db.kill_node(primary)
    return primary, "standby"


def _kill_standby(inst, primary, standby):
    inst.db.kill_node(standby)
    return standby, "standby"


def _switchover(inst, primary, standby):
    inst.lab.vipctl(primary, "failover", "--instance", "db")
    return None, None


ITEMS = {
    "db-primary-kill": _fault("db-primary-kill", _kill_primary,
                              "hard kill (link down + SIGKILL of vipd, vipd-pg, PostgreSQL) of the primary's node"),
    "db-standby-kill": _fault("db-standby-kill", _kill_standby, "hard kill of the standby's node"),
    "db-switchover": _fault("db-switchover", _switchover, "vipctl failover --instance db on the primary's node"),
}
