"""The two daemons lab/bench.py compares, behind one interface: start, state,
stop, hard kill (optionally at a given moment), planned handover, PIDs, version."""

import re
import shlex

from benchmeasure import kill_at


class Vipd:
    name = "vipd"
    transition_re = re.compile(r": (init|backup|master|fault|maintenance) -> (init|backup|master|fault|maintenance)\b")

    def __init__(self, extra_yaml=""):
        self.extra_yaml = extra_yaml

    def start(self, lab, node):
        extra = shlex.quote(self.extra_yaml) if self.extra_yaml else ""
        lab.run(f"lab_start_vipd {node} {extra} >/dev/null; lab_wait_running {node}")

    def state(self, lab, node):
        return lab.state(node)

    def stop(self, lab, node):
        lab.run(f"lab_stop {node}")

    def kill_hard(self, lab, node, at=None):
        lab.run(f"{kill_at(at)}lab_kill_hard {node}")

    def planned(self, lab):
        lab.run("$LAB/bin/vipctl failover --to node-b --socket $(lab_socket a)", timeout=60)

    def unplan(self, lab):
        lab.run("$LAB/bin/vipctl failover --to node-a --socket $(lab_socket b)", timeout=60)

    def pids(self, lab, node):
        pid = lab.pid(node)
        return [pid] if pid else []

    def version(self, lab):
        return lab.out("$LAB/bin/vipd --version", check=False)


class Keepalived:
    name = "keepalived"
    transition_re = re.compile(r"Entering (MASTER|BACKUP|FAULT) STATE")

    def __init__(self, realtime=False):
        self.realtime = realtime

    def start(self, lab, node):
        rt = "KA_RT=1 " if self.realtime else ""
        lab.run(f"{rt}bench_start_keepalived {node} >/dev/null")

    def state(self, lab, node):
        return lab.out(f"bench_keepalived_state {node}")

    def stop(self, lab, node):
        lab.run(f"bench_stop_keepalived {node}")

    def kill_hard(self, lab, node, at=None):
        lab.run(f"{kill_at(at)}bench_kill_hard_keepalived {node}")

    def planned(self, lab):
        lab.run("bench_keepalived_set_prio_offset a -100")

    def unplan(self, lab):
        lab.run("bench_keepalived_set_prio_offset a 0")

    def pids(self, lab, node):
        return [int(p) for p in lab.out(f"bench_keepalived_pids {node}").split()]

    def version(self, lab):
        return lab.out("keepalived --version 2>&1 | head -1", check=False)
