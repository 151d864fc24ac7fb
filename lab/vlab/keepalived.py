"""Debian's keepalived on the lab's nodes, as the daemon vipd is compared with
and the peer it meets: in the foreground of the node's namespace (-n), VRRP
only (-P), no respawn (-R), console logging (-l -D -G), with its own config and
pid files under DIR/ka-NODE, so instances never share anything."""

import os
import re
import shutil
import signal
import subprocess
import time

from .instances import Instance
from .topology import PRIORITY
from .util import LabError, need_packages, read, wait_for


class KeepalivedNodes:
    def keepalived_config(self, node, priority=None, realtime=False, instances=None):
        """Every instance starts in BACKUP (the election decides, as with vipd),
        preemption on, VRRPv3, unicast to the other nodes, no VMAC, no auth (VRRPv3
        has none), no scripts. track_file "planned" (weight 1) reads ka-NODE/prio:
        writing -100 there lowers the priority by 100 -- the closest keepalived gets
        to a planned handover. realtime: vrrp_rt_priority + vrrp_no_swap, the
        counterpart of vipd's realtime_priority / lock_memory. INSTANCES
        (instances.Instance, default one VI_1 with VRID 51 and the VIP): one
        vrrp_instance each; PRIORITY, when given, is every instance's."""
        d = os.path.join(self.dir, f"ka-{node}")
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, "prio")):
            with open(os.path.join(d, "prio"), "w") as f:
                f.write("0\n")
        rt = "    vrrp_rt_priority 10\n    vrrp_no_swap\n" if realtime else ""
        peers = "".join(f"        {self.addr(p)}\n" for p in self.nodes if p != node)
        blocks = "".join(self._vrrp_instance(node, i, priority, peers) for i in (instances or [Instance("VI_1", 51)]))
        with open(os.path.join(d, "keepalived.conf"), "w") as f:
            f.write(f"""global_defs {{
    router_id node-{node}
    vrrp_version 3
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 5
    vrrp_garp_master_refresh 0
    max_auto_priority -1
{rt}}}
track_file planned {{
    file "{d}/prio"
    weight 1
}}
{blocks}""")
        return d

    def _vrrp_instance(self, node, inst, priority, peers):
        track = ("    track_interface {\n" + "".join(f"        {t}\n" for t in inst.track) + "    }\n"
                 if inst.track else "")
        return f"""vrrp_instance {inst.name} {{
    state BACKUP
    interface eth0
    virtual_router_id {inst.vrid}
    priority {priority or inst.priority(node)}
    advert_int {self.interval_ms / 1000:g}
    unicast_src_ip {self.addr(node)}
    unicast_peer {{
{peers}    }}
    virtual_ipaddress {{
        {inst.vip} dev {inst.device}
    }}
    garp_master_delay 0
    garp_master_repeat 5
{track}    track_file {{
        planned
    }}
}}
"""

    def start_keepalived(self, node, priority=None, realtime=False, instances=None):
        """Returns the parent's PID once the VRRP child is up (both recorded)."""
        need_packages("keepalived")
        d = self.keepalived_config(node, priority, realtime, instances)
        for f in ("keepalived.pid", "vrrp.pid"):
            if os.path.exists(os.path.join(d, f)):
                os.unlink(os.path.join(d, f))
        binary = os.path.join(self.dir, "bin", f"keepalived-{node}")   # its own copy, as for vipd
        if not os.path.exists(binary):
            shutil.copy2(shutil.which("keepalived"), binary)
        self.mark(node, f"start keepalived on {node} at {time.time():.6f} priority {priority or PRIORITY[node]}")
        log = open(self.log_path(node), "ab")
        try:
            pid = self.registry.start(f"keepalived-{node}", [
                "ip", "netns", "exec", self.ns(node), binary, "-n", "-P", "-R", "-l", "-D", "-G",
                "-f", f"{d}/keepalived.conf", "-p", f"{d}/keepalived.pid", "-r", f"{d}/vrrp.pid",
                "-c", f"{d}/checkers.pid", "-b", f"{d}/bfd.pid", "-i", f"node-{node}"], log, subprocess.STDOUT)
        finally:
            log.close()

        def child():
            text = read(os.path.join(d, "vrrp.pid")).strip()
            if not self.registry.pid(f"keepalived-{node}"):
                raise LabError(f"keepalived on {node} exited: {self.log(node)[-1500:]}")
            if text.isdigit() and read(f"/proc/{text}/stat").rsplit(")", 1)[-1].split()[1:2] == [str(pid)]:
                return int(text)
            return None
        vrrp = wait_for(child, 4, f"keepalived's VRRP process on {node}", interval=0.01)
        self.registry.record(vrrp, f"keepalived-vrrp-{node}")
        return pid

    def keepalived_pids(self, node):
        """NODE's keepalived processes (VRRP child, parent) that are still ours."""
        return [p for p in (self.registry.pid(f"keepalived-vrrp-{node}"), self.registry.pid(f"keepalived-{node}"))
                if p]

    def stop_keepalived(self, node):
        """Graceful stop: SIGTERM to the parent, which stops the VRRP child (priority-0
        advert, VIP removed); waits for both."""
        self.registry.stop(f"keepalived-{node}", signal.SIGTERM, 10)
        self.registry.stop(f"keepalived-vrrp-{node}", signal.SIGKILL, 5)

    def kill_hard_keepalived(self, node, at_us=None):
        return self.kill_hard(node, at_us, pids=self.keepalived_pids(node))

    def keepalived_state(self, node):
        """master|backup|fault|init|down, from the last "Entering X STATE" line since the last start."""
        if not self.keepalived_pids(node):
            return "down"
        return self.keepalived_states(node).get(None, "init")

    def keepalived_states(self, node):
        """{instance: master|backup|fault} since the last start, from its "(NAME) Entering X STATE"
        lines; key None: the last such line of any instance. {} if keepalived is not running."""
        if not self.keepalived_pids(node):
            return {}
        text = self.log(node)
        start = text.rfind("=== lab: start keepalived")
        states = {}
        for m in re.finditer(r"\((\S+)\) Entering (MASTER|BACKUP|FAULT) STATE", text[max(start, 0):]):
            states[m.group(1)] = states[None] = m.group(2).lower()
        return states

    def keepalived_set_prio_offset(self, node, offset):
        """The track_file value (effective priority = base + OFFSET); keepalived watches it with inotify."""
        f = os.path.join(self.dir, f"ka-{node}", "prio")
        with open(f + ".tmp", "w") as out:
            out.write(f"{offset}\n")
        os.replace(f + ".tmp", f)
