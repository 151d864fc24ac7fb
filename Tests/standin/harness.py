"""Running the stand-in the way an installation meets it, for the tests in
this folder: an unprivileged user, a root prefix holding config.yaml, the
log directory and the port found from the outside (strace and /proc), not
computed from the stand-in's own function."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
# (family, port, hex address) of PID's listening sockets: the lab's reading of /proc.
from vlab.bingo import listening_sockets as listening_ports  # noqa: E402

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "bingo_standin.py"
# Debian's interpreter: it has python3-psycopg2, and the unprivileged user
# can run it (a pyenv interpreter under /root cannot be reached by nobody).
PYTHON = "/usr/bin/python3"
USER, GROUP = "nobody", "nogroup"
UID, GID = 65534, 65534


def as_user(argv: list[str], netns: str | None = None) -> list[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return prefix + ["setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--clear-groups", "--", *argv]


def config_text(email: str, hosts: list[tuple[str, int]]) -> str:
    lines = [f"student_email: {email}", "postgres_cluster:", "  hosts:"]
    for address, port in hosts:
        lines += [f"  - address: {address}", f"    port: {port}"]
    lines += ["  user: postgres", "  password: postgres", "  db_name: postgres",
              "  ssl_mode: disable", "  use_closest_node: false", ""]
    return "\n".join(lines)


class Root:
    """A root prefix: ROOT/opt/bingo/config.yaml and ROOT/opt/bongo/logs."""

    def __init__(self, email: str, hosts: list[tuple[str, int]]) -> None:
        self.path = tempfile.mkdtemp(prefix="bingo-root-")
        os.chmod(self.path, 0o755)
        os.makedirs(os.path.join(self.path, "opt/bingo"), mode=0o755)
        self.email = email
        self.write_config(config_text(email, hosts))
        self.log_dir: str | None = None

    def write_config(self, text: str) -> None:
        with open(os.path.join(self.path, "opt/bingo/config.yaml"), "w") as f:
            f.write(text)
        os.chmod(os.path.join(self.path, "opt/bingo/config.yaml"), 0o644)

    def discover_log_dir(self) -> str:
        """What the operator did: run it once under strace and read which
        main.log its failing openat wanted. Then create that directory for
        the unprivileged user."""
        out = os.path.join(self.path, "strace.txt")
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", out,
                        *as_user([PYTHON, str(STANDIN), "--root", self.path, "run_server"])],
                       capture_output=True, timeout=30)
        with open(out) as f:
            m = re.search(r'openat\([^"]*"([^"]*/main\.log)"', f.read())
        assert m, "the stand-in never tried to open a main.log"
        self.log_dir = os.path.dirname(m.group(1))
        os.makedirs(self.log_dir, exist_ok=True)
        for d in Path(self.log_dir).relative_to(self.path).parents:
            os.chmod(os.path.join(self.path, d), 0o755)
        os.chown(self.log_dir, UID, GID)
        return self.log_dir

    def log_records(self) -> list[dict]:
        try:
            with open(os.path.join(self.log_dir, "main.log")) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Bingo:
    """One stand-in process (run_server) as the unprivileged user."""

    def __init__(self, root: Root, *knobs: str, netns: str | None = None) -> None:
        self.root, self.netns = root, netns
        self.argv = as_user([PYTHON, str(STANDIN), "--root", root.path, "--quiet", *knobs,
                             "run_server"], netns)
        self.stderr_path = os.path.join(root.path, f"stderr.{time.monotonic_ns()}")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self._err)
        self.pid = self.proc.pid
        self.port: int | None = None
        self.started_at = time.monotonic()

    def stderr(self) -> str:
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_listening(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"stand-in exited {self.proc.returncode}: {self.stderr()}")
            ports = [p for fam, p, _ in listening_ports(self.pid)]
            if ports:
                self.port = ports[-1]
                return self.port
            time.sleep(0.05)
        raise AssertionError(f"stand-in not listening after {timeout}s: {self.stderr()}")

    def request(self, method: str, path: str, body=None, timeout: float = 30.0,
                host: str = "127.0.0.1", port: int | None = None):
        conn = http.client.HTTPConnection(host, port or self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            conn.request(method, path, body=body,
                         headers={"Content-Type": "application/json"} if body is not None else {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self._err.close()
