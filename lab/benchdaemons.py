"""The two daemons lab/bench.py compares, behind one interface over a vlab.Lab:
start, state (of the first or of every instance), stop, hard kill (optionally
at a given moment), planned handover, PIDs, version. INSTANCES
(vlab.instances.Instance): the virtual routers both run instead of the lab's
single one."""

import os
import re
import subprocess

from vlab.instances import instances_yaml


def at_us(at):
    """Epoch seconds -> the epoch microseconds kill_hard waits for (None: at once)."""
    return int(at * 1_000_000) if at else None


class Vipd:
    name = "vipd"
    transition_re = re.compile(r": (init|backup|master|fault|maintenance) -> (init|backup|master|fault|maintenance)\b")

    def __init__(self, extra_yaml="", instances=None):
        self.extra_yaml = extra_yaml
        self.instances = instances

    def start(self, lab, node):
        # Failover only, as keepalived: never the front's checks and nginx manager.
        election = instances_yaml(self.instances, node) if self.instances else None
        lab.start_vipd(node, extra=self.extra_yaml, front=False, election=election)   # once its socket answers

    def state(self, lab, node):
        return lab.state(node)

    def states(self, lab, node):
        """{instance: state}; {} if down."""
        return lab.instance_states(node)

    def stop(self, lab, node):
        lab.stop_vipd(node)

    def kill_hard(self, lab, node, at=None):
        """Returns (t_kill, t_link_down), epoch seconds."""
        return lab.kill_hard(node, at_us=at_us(at))

    def planned(self, lab):
        lab.vipctl("a", "failover", "--to", "node-b", timeout=60)

    def unplan(self, lab):
        lab.vipctl("b", "failover", "--to", "node-a", timeout=60)

    def pids(self, lab, node):
        pid = lab.vipd_pid(node)
        return [pid] if pid else []

    def version(self, lab=None):
        """`vipd --version` of LAB's copy, or of BIN_DIR's (what every lab copies)."""
        binary = os.path.join(lab.dir, "bin", "vipd") if lab else os.path.join(os.environ["BIN_DIR"], "vipd")
        return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()


class Keepalived:
    name = "keepalived"
    transition_re = re.compile(r"Entering (MASTER|BACKUP|FAULT) STATE")

    def __init__(self, realtime=False, instances=None):
        self.realtime = realtime
        self.instances = instances

    def start(self, lab, node):
        lab.start_keepalived(node, realtime=self.realtime, instances=self.instances)

    def state(self, lab, node):
        return lab.keepalived_state(node)

    def states(self, lab, node):
        """{instance: state} of the instances that have entered a state; {} if down."""
        return {k: v for k, v in lab.keepalived_states(node).items() if k is not None}

    def stop(self, lab, node):
        lab.stop_keepalived(node)

    def kill_hard(self, lab, node, at=None):
        return lab.kill_hard_keepalived(node, at_us=at_us(at))

    def planned(self, lab):
        lab.keepalived_set_prio_offset("a", -100)

    def unplan(self, lab):
        lab.keepalived_set_prio_offset("a", 0)

    def pids(self, lab, node):
        return lab.keepalived_pids(node)

    def version(self, lab=None):
        out = subprocess.run(["keepalived", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return (out.stdout.splitlines() or [""])[0]
