"""A throwaway PostgreSQL 15 server for the stand-in's tests and the lab
benchmark: initdb in a temporary directory and pg_ctl, both as the
`postgres` user (PostgreSQL refuses root), listening on one address only
(127.0.0.1, or a lab namespace's 198.18.x address), stopped by the PID in
postmaster.pid. Debian's binaries, not the packaged cluster."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "postgres"


class PgServer:
    def __init__(self, address: str = "127.0.0.1", port: int = 0, netns: str | None = None,
                 settings: dict[str, str] | None = None, clients: str | None = None) -> None:
        self.address, self.port, self.netns = address, port or _free_port(address), netns
        self.clients = clients or f"{address}/32"   # who may connect (pg_hba.conf)
        self.settings = {"fsync": "off", "max_connections": "50", **(settings or {})}
        self.dir = tempfile.mkdtemp(prefix="bingo-pg-")
        self.pid: int | None = None
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _as_postgres(self, *argv: str, timeout: float = 120) -> str:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = subprocess.run(prefix + ["setpriv", "--reuid=postgres", "--regid=postgres",
                                       "--init-groups", "--", *argv],
                             capture_output=True, text=True, timeout=timeout, cwd="/")
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {out.stderr}{out.stdout}")
        return out.stdout

    def start(self) -> "PgServer":
        data = os.path.join(self.dir, "data")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._as_postgres(f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--pwfile", pwfile,
                          "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        opts = " ".join([f"-c listen_addresses={self.address}", f"-p {self.port}",
                         f"-c unix_socket_directories={self.dir}"] +
                        [f"-c {k}={v}" for k, v in self.settings.items()])
        with open(os.path.join(data, "pg_hba.conf"), "a") as f:
            f.write(f"host all all {self.clients} scram-sha-256\n")
        self._as_postgres(f"{PG_BIN}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"),
                          "-o", opts, "-w", "-t", "60", "start")
        with open(os.path.join(data, "postmaster.pid")) as f:
            self.pid = int(f.readline())
        return self

    def psql(self, sql: str, db: str = "postgres", timeout: float = 600) -> str:
        """Runs SQL (a string, or a file with -f semantics if it is a path)."""
        args = ["-f", sql] if os.path.isfile(sql) else ["-c", sql]
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = subprocess.run(prefix + [f"{PG_BIN}/psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
                                       "-h", self.address, "-p", str(self.port), "-U", "postgres",
                                       "-d", db, *args],
                             capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "PGPASSWORD": PASSWORD})
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr}")
        return out.stdout.strip()

    def stop(self) -> None:
        """Fast shutdown by PID; immediate shutdown if that hangs. Idempotent."""
        if self.pid and _alive(self.pid):
            os.kill(self.pid, signal.SIGINT)
            if not _wait_gone(self.pid, 30):
                os.kill(self.pid, signal.SIGQUIT)
                _wait_gone(self.pid, 10)
        self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port(address: str) -> int:
    # An ephemeral port (32768 and up): never one the stand-in derives from
    # an email (1024..32767).
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False
