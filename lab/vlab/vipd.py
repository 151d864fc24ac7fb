"""vipd on the lab's nodes: its config, start, the ways it ends (graceful stop,
crash, hard node death) and what it reports (vipctl status --json)."""

import json
import os
import shutil
import signal
import subprocess
import time

from .topology import PREFIXLEN, PRIORITY, VIP
from .util import LabError, read, wait_for, wait_until


class VipdNodes:
    # --- config ------------------------------------------------------------------

    def socket(self, node):
        return os.path.join(self.dir, node, "run", "control.sock")

    def vipd_config(self, node, priority=None, extra="", front=None, election=None, witness=False):
        """The node's vipd.yaml: the lab's election (vrid 51, the VIP, the advert
        interval, the shared key, every other node a peer) plus EXTRA yaml and, when
        the node has a front (start_front), its checks and nginx section. ELECTION,
        when given, replaces the single router's vrid/vips/timing lines (an
        `instances:` list, say); the top-level timing stays as their default.
        WITNESS: `node.witness: true` (votes in quorum instances, never master)."""
        peers = "".join(f"  - id: node-{p}\n    address: {self.addr(p)}\n" for p in self.nodes if p != node)
        router = election.rstrip() + "\n" if election is not None else f"""vrid: 51
vips:
  - address: {VIP}/{PREFIXLEN}
"""
        text = f"""node:
  id: node-{node}
  interface: eth0
  address: {self.addr(node)}
  priority: {priority or PRIORITY[node]}
{"  witness: true" + chr(10) if witness else ""}peers:
{peers}{router}timing:
  advert_interval: {self.interval_ms}ms
{self.timing_extra}auth:
  key_file: {self.key}
control:
  socket: {self.socket(node)}
state_dir: {self.dir}/state-{node}
log_level: {self.log_level}
"""
        if node in self.fronts if front is None else front:
            text += self.front_vipd_yaml(node)
        return text + (extra.rstrip() + "\n" if extra else "")

    # --- start and end -------------------------------------------------------------

    def start_vipd(self, node, extra="", priority=None, wait=True, front=None, election=None, witness=False):
        """Writes the config and starts vipd in NODE's namespace (as root: it drops
        to user vipd itself); FRONT (default: whether NODE has one) adds the
        front's checks and nginx manager. Its output is appended to DIR/NODE.log.
        Returns its PID once its control socket answers (wait=False: at once)."""
        if self.registry.pid(f"vipd-{node}"):
            raise LabError(f"vipd on {node} is already running")
        os.makedirs(os.path.join(self.dir, node), mode=0o755, exist_ok=True)
        config = os.path.join(self.dir, node, "vipd.yaml")
        with open(config, "w") as f:
            f.write(self.vipd_config(node, priority, extra, front, election, witness))
        # Each node runs its own copy of the binary, as two machines would: one
        # file mapped by both would put pages one of them touched into the
        # other's resident set (docs/benchmarks.md).
        binary = os.path.join(self.dir, "bin", f"vipd-{node}")
        if not os.path.exists(binary):
            shutil.copy2(os.path.join(self.dir, "bin", "vipd"), binary)
        log = open(self.log_path(node), "ab")
        log.write(f"=== lab: start vipd on {node} at {time.time():.6f} priority {priority or PRIORITY[node]}\n".encode())
        log.flush()
        try:
            pid = self.registry.start(f"vipd-{node}", ["ip", "netns", "exec", self.ns(node), binary,
                                                       "--config", config], log, subprocess.STDOUT)
        finally:
            log.close()
        if wait:
            self.wait_running(node)
        return pid

    def wait_running(self, node, timeout=15):
        def answering():
            if not self.registry.pid(f"vipd-{node}"):
                raise LabError(f"vipd on {node} exited; log: {self.log(node)[-1500:]}")
            return self.status(node) is not None
        wait_for(answering, timeout, f"vipd on {node} to answer", interval=0.05)

    def vipd_pid(self, node):
        return self.registry.pid(f"vipd-{node}")

    def vipd_running(self, node):
        return self.vipd_pid(node) is not None

    def stop_vipd(self, node, timeout=10):
        """Graceful stop: SIGTERM (vipd resigns with priority 0), wait; SIGKILL after TIMEOUT s."""
        self.registry.stop(f"vipd-{node}", signal.SIGTERM, timeout)

    def kill9(self, node):
        """SIGKILL of vipd only (the link stays up), like a crash."""
        self.registry.stop(f"vipd-{node}", signal.SIGKILL, 5)
        self.mark(node, f"SIGKILL of vipd on {node}")

    def kill_hard(self, node, at_us=None, pids=None):
        """Hard node death: the processes (default NODE's vipd) SIGKILLed and NODE's
        link taken down at the same moment. AT_US (wall clock, microseconds since
        the epoch) delays it until then (util.wait_until: within a fraction of a
        millisecond). Returns (t_kill, t_link_down) in epoch seconds; also in
        DIR/killtime.NODE."""
        if pids is None:
            pid = self.vipd_pid(node)
            pids = [pid] if pid else []
        wait_until(at_us)
        t0 = time.time()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # first: a dead process sends nothing while the link goes down
            except ProcessLookupError:
                pass   # already gone (a short-lived child listed with its parent)
        link = self.link_down_async(node)
        link.wait()
        t1 = time.time()
        with open(os.path.join(self.dir, f"killtime.{node}"), "w") as f:
            f.write(f"{t0:.6f} {t1:.6f}\n")
        for pid in pids:
            self.registry.wait_gone(pid, 10)
        self.mark(node, f"hard kill (link down + SIGKILL) of {node} at {t0:.6f}")
        return t0, t1

    # --- observation ------------------------------------------------------------------

    def vipctl(self, node, *args, check=True, timeout=30):
        """Runs vipctl against NODE's control socket; returns (rc, stdout, stderr)."""
        out = subprocess.run([os.path.join(self.dir, "bin", "vipctl"), *args, "--socket", self.socket(node)],
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise LabError(f"vipctl {' '.join(args)} on {node} failed ({out.returncode}): {out.stderr}{out.stdout}")
        return out.returncode, out.stdout, out.stderr

    def status(self, node):
        try:
            rc, out, _ = self.vipctl(node, "status", "--json", check=False, timeout=10)
        except subprocess.TimeoutExpired:
            return None
        return json.loads(out) if rc == 0 else None

    def state(self, node):
        st = self.status(node)
        return st["state"] if st else "down"

    def instance_states(self, node):
        """{instance name: state} from NODE's status; {} if vipd does not answer."""
        st = self.status(node)
        return {i["instance"]: i["state"] for i in st.get("instances") or [st]} if st else {}

    def wait_master(self, node, timeout=10):
        """Until NODE reports master and is the only holder of the VIP."""
        wait_for(lambda: self.state(node) == "master" and self.holders() == [node], timeout,
                 f"{node} sole master (holders {self.holders()})", interval=0.05)

    def log_path(self, node):
        return os.path.join(self.dir, f"{node}.log")

    def log(self, node):
        """The daemon output on NODE (all its starts), or a named process's output (spawn)."""
        return read(self.log_path(node)) if node in self.nodes else read(os.path.join(self.dir, f"{node}.log"))

    def mark(self, node, text):
        with open(self.log_path(node), "a") as f:
            f.write(f"=== lab: {text}\n")
