"""Helpers for tests that run real vipd processes on loopback addresses.

Each test gets its own directory, key and 127.0.x.y addresses; every process
is started through the lab's registry of processes (lab/vlab/procs.py: PID
and start time recorded, ended by PID when the test ends, pass or fail, and
by its reaper if pytest itself dies).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))
from vlab import wait_for as _wait_for  # noqa: E402
from vlab.procs import Registry  # noqa: E402

BIN = Path(os.environ.get("BIN_DIR", REPO / ".build" / "debug"))
VIPD = str(BIN / "vipd")
VIPCTL = str(BIN / "vipctl")


def mdi_ms(interval_ms, priority):
    """Master_Down_Interval (RFC 5798) in ms."""
    return 3 * interval_ms + (256 - priority) * interval_ms / 256


def skew_ms(interval_ms, priority):
    return (256 - priority) * interval_ms / 256


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=2.0):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Node:
    def __init__(self, cluster, node_id, address, priority, extra):
        self.cluster = cluster
        self.id = node_id
        self.address = address
        self.priority = priority
        self.extra = extra
        self.dir = cluster.dir / node_id
        self.dir.mkdir(mode=0o755, exist_ok=True)
        self.socket = str(self.dir / "run" / "control.sock")
        self.config = self.dir / "vipd.yaml"
        self.log = self.dir / "vipd.log"
        self.proc = None
        self.started_at = None

    def write_config(self):
        peers = "\n".join(
            f"  - id: {p.id}\n    address: {p.address}"
            for p in self.cluster.nodes if p is not self)
        timing = self.extra.get("timing", "")
        self.config.write_text(
            f"node:\n  id: {self.id}\n  interface: lo\n  address: {self.address}\n"
            f"  priority: {self.priority}\n  port: {self.cluster.port}\n"
            f"peers:\n{peers}\n"
            f"vrid: 42\n"
            f"timing:\n  advert_interval: {self.cluster.interval_ms}ms\n{timing}"
            + self.extra.get("auth", f"auth:\n  key_file: {self.cluster.key}\n") +
            f"control:\n  socket: {self.socket}\n{self.extra.get('control', '')}"
            f"state_dir: {self.dir / 'state'}\n"
            f"log_level: debug\n{self.extra.get('tail', '')}")

    def start(self, env=None, prefix=()):
        """`prefix`: a wrapper to run vipd under (e.g. faketime)."""
        self.write_config()
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        logfile = open(self.log, "ab")
        self.started_at = time.monotonic()
        environment = dict(os.environ, **(env or {}))
        try:
            pid = self.cluster.registry.start(self.id, [*prefix, VIPD, "--config", str(self.config)], logfile,
                                              logfile, env=environment)
        finally:
            logfile.close()
        self.proc = self.cluster.registry.popen[pid]
        wait_for(lambda: self.status() is not None, 10, f"{self.id} control socket")
        return self

    def status(self):
        try:
            conn = UnixHTTPConnection(self.socket, timeout=1.0)
            conn.request("GET", "/v1/status")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            return json.loads(body) if response.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def request(self, method, path, body=None, headers=None):
        """(status, parsed JSON or text) from the control socket."""
        conn = UnixHTTPConnection(self.socket, timeout=30)
        payload = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if payload else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=payload, headers=hdrs)
        response = conn.getresponse()
        raw = response.read()
        conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode(errors="replace")

    def vipctl(self, *args):
        return subprocess.run([VIPCTL, *args, "--socket", self.socket], capture_output=True, text=True, timeout=60)

    def state(self):
        status = self.status()
        return status["state"] if status else None

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout=10):
        if self.proc:
            self.proc.wait(timeout)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


_next_net = os.getpid() % 200


class Cluster:
    """N vipd processes on 127.0.<net>.1..N, all peers of each other."""

    def __init__(self, priorities, interval_ms=100, net=None, extra=None):
        self.dir = Path(tempfile.mkdtemp(prefix="vipd-it-"))
        os.chmod(self.dir, 0o755)
        self.registry = Registry(str(self.dir))
        self.registry.start_reaper()
        self.key = self.dir / "auth.key"
        self.key.write_text(os.urandom(24).hex() + "\n")
        os.chmod(self.key, 0o600)
        self.interval_ms = interval_ms
        self.port = 5798
        global _next_net
        if net is None:
            _next_net = (_next_net + 1) % 200
            net = 20 + _next_net
        extra = extra or {}
        self.nodes = [
            Node(self, f"n{i}", f"127.0.{net}.{i + 1}", p, extra.get(i, {}))
            for i, p in enumerate(priorities)
        ]

    def start(self):
        for node in self.nodes:
            node.start()
        return self

    def masters(self):
        return [n.id for n in self.nodes if n.proc and n.proc.poll() is None and n.state() == "master"]

    def stop(self):
        for node in self.nodes:
            node.kill(signal.SIGKILL)
        for node in self.nodes:
            try:
                node.wait_exit(5)
            except subprocess.TimeoutExpired:
                pass

    def dump_logs(self):
        for node in self.nodes:
            print(f"----- {node.id} log -----\n{node.log_text()[-4000:]}")

    def cleanup(self):
        self.stop()
        self.registry.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(predicate, timeout, what, poll=0.005):
    return _wait_for(predicate, timeout, what, interval=poll)
