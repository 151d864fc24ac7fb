"""The daemons lab/bench.py compares, behind one interface over a vlab.Lab:
start, state (of the first or of every instance), stop, hard kill (optionally
at a given moment), planned handover, PIDs, version; `lab_options` for the
lab it needs and `warm` for what it must learn before it is measured.
INSTANCES (vlab.instances.Instance): the virtual routers all run instead of
the lab's single one. vipd-adaptive is vipd with `timing.detection:
adaptive` (issue 17)."""

import os
import re
import subprocess
import time

from vlab.instances import instances_yaml


def at_us(at):
    """Epoch seconds -> the epoch microseconds kill_hard waits for (None: at once)."""
    return int(at * 1_000_000) if at else None


class Vipd:
    name = "vipd"
    lab_options = {}
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

    def warm(self, lab, say=None):
        """Nothing to learn: the RFC rule from the first heartbeat."""
        return None


class VipdAdaptive(Vipd):
    """vipd whose backup derives master-down from the link it measured."""
    name = "vipd-adaptive"
    lab_options = {"timing_extra": "  detection: {mode: adaptive}\n"}
    # How long a clean link takes to earn 2 silent intervals (LinkEstimateTests:
    # ~8,000 heartbeats at 20 ms, ~6,000 at 100 ms), with room.
    WARM_HEARTBEATS = 9_000

    @staticmethod
    def learned(lab, node="b", peer="a"):
        """What NODE's estimate of PEER's link says: (silent intervals or None, master-down ms)."""
        st = lab.status(node) or {}
        link = next((p.get("link") for p in st.get("peers", []) if p.get("id") == f"node-{peer}"), None) or {}
        return link.get("intervals"), st.get("master_down_ms")

    def warm(self, lab, say=None):
        """Waits until B's estimate of A's link allows 2 silent intervals;
        returns (seconds waited, master-down ms). LabError if it never does."""
        t0 = time.monotonic()
        limit = self.WARM_HEARTBEATS * lab.interval_ms / 1000 * 1.5
        if say:
            say(f"vipd-adaptive: a clean link while B learns it (up to {limit:.0f} s)")
        lab.wait_for(lambda: self.learned(lab)[0] == 2, limit, what="B's estimate of A's link at 2 intervals",
                     interval=1.0)
        waited, down = round(time.monotonic() - t0, 1), self.learned(lab)[1]
        if say:
            say(f"vipd-adaptive: 2 intervals after {waited} s; B's master-down now {down} ms")
        return waited, down


def daemon_for(name):
    """The bench's daemons by name."""
    kinds = {"vipd": Vipd, "vipd-adaptive": VipdAdaptive, "keepalived": Keepalived}
    if name not in kinds:
        raise SystemExit(f"unknown daemon {name} (known: {', '.join(kinds)})")
    return kinds[name]()


class Keepalived:
    name = "keepalived"
    lab_options = {}
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

    def warm(self, lab, say=None):
        return None
