"""A throwaway PostgreSQL 15 server for the stand-in's tests and the lab
benchmark: initdb in a temporary directory and pg_ctl, both as the
`postgres` user (PostgreSQL refuses root), listening on one address only
(127.0.0.1, or a lab namespace's 198.18.x address), stopped by the PID in
postmaster.pid. Debian's binaries, not the packaged cluster.

The replicated pair (pgcluster.py) uses the same class: a primary from
initdb and a hot standby from pg_basebackup of it (`init_standby`), with the
settings every node shares in postgresql.conf (pg_basebackup and pg_rewind
copy that file from node to node) and only the node's own on pg_ctl's
command line (`ctl_start_argv`, what the agent's start command runs)."""

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
                 settings: dict[str, str] | None = None, clients: str | None = None,
                 listen: str | None = None, parent: str | None = None) -> None:
        self.address, self.port, self.netns = address, port or _free_port(address), netns
        self.listen = listen or address               # listen_addresses ('*' for a DB address that moves)
        self.clients = clients or f"{address}/32"   # who may connect (pg_hba.conf)
        self.settings = {"fsync": "off", "max_connections": "50", **(settings or {})}
        self.dir = tempfile.mkdtemp(prefix="bingo-pg-", dir=parent)
        self.data = os.path.join(self.dir, "data")
        self.pid: int | None = None
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)   # the lab reads the log; data/ itself is 0700

    def _as_postgres(self, *argv: str, timeout: float = 120) -> str:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = subprocess.run(prefix + ["setpriv", "--reuid=postgres", "--regid=postgres",
                                       "--init-groups", "--", *argv],
                             capture_output=True, text=True, timeout=timeout, cwd="/")
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {out.stderr}{out.stdout}")
        return out.stdout

    @property
    def password_file(self) -> str:
        """The superuser's password, one line, readable by postgres only."""
        return os.path.join(self.dir, "pw")

    def _write_password(self):
        with open(self.password_file, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.password_file, 0o600)
        os.chown(self.password_file, pwd.getpwnam("postgres").pw_uid, -1)

    def start(self, shared: dict[str, str] | None = None, hba: tuple[str, ...] = ()) -> "PgServer":
        """initdb and start. SHARED: settings written to postgresql.conf (what
        a standby copies); HBA: more pg_hba.conf lines."""
        self._write_password()
        self._as_postgres(f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "--pwfile", self.password_file,
                          "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        if shared:
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("# the replicated pair's shared settings (lab/vlab/pgcluster.py)\n")
                f.writelines(f"{k} = '{v}'\n" for k, v in shared.items())
        with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
            f.write(f"host all all {self.clients} scram-sha-256\n")
            f.writelines(line + "\n" for line in hba)
        return self.ctl_start()

    def init_standby(self, source_host: str, user: str, password: str, primary_conninfo: str) -> "PgServer":
        """The data directory from pg_basebackup of SOURCE_HOST (as USER), made a
        hot standby that streams with PRIMARY_CONNINFO; then started."""
        self._write_password()
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = subprocess.run(prefix + ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
                                       f"{PG_BIN}/pg_basebackup", "-h", source_host, "-p", str(self.port), "-U", user,
                                       "-D", self.data, "-X", "stream", "-c", "fast"],
                             capture_output=True, text=True, timeout=300, cwd="/",
                             env={**os.environ, "PGPASSWORD": password})
        if out.returncode != 0:
            raise RuntimeError(f"pg_basebackup: {out.stderr}{out.stdout}")
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("primary_conninfo = '" + primary_conninfo.replace("'", "''") + "'\n")
        open(os.path.join(self.data, "standby.signal"), "w").close()
        return self.ctl_start()

    def ctl_options(self) -> str:
        return " ".join([f"-c listen_addresses={self.listen}", f"-p {self.port}",
                         f"-c unix_socket_directories={self.dir}"] +
                        [f"-c {k}={v}" for k, v in self.settings.items()])

    def ctl_start_argv(self) -> list[str]:
        """pg_ctl start of this data directory with this node's options (as postgres)."""
        return [f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"),
                "-o", self.ctl_options(), "-w", "-t", "60", "start"]

    def ctl_stop_immediate_argv(self) -> list[str]:
        # --no-wait: the agent waits for the postmaster's PID itself; pg_ctl's
        # own wait added 1.5 s after the server had gone (measured).
        return [f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "--no-wait", "stop"]

    def ctl_start(self) -> "PgServer":
        for f in (self.password_file, os.path.join(self.dir, "log")):
            if os.path.exists(f):
                os.chown(f, pwd.getpwnam("postgres").pw_uid, -1)
        self._as_postgres(*self.ctl_start_argv())
        self.pid = self.postmaster_pid()
        return self

    def postmaster_pid(self) -> int | None:
        """The PID in postmaster.pid when that process lives (whoever started it)."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return None
        # A file left by a killed server may name a recycled PID: only a
        # postgres binary counts.
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return None
        return pid if _alive(pid) and exe.startswith(f"{PG_BIN}/postgres") else None

    def psql(self, sql: str, db: str = "postgres", timeout: float = 600, host: str | None = None) -> str:
        """Runs SQL (a string, or a file with -f semantics if it is a path);
        HOST: another address to connect to from this server's namespace."""
        args = ["-f", sql] if os.path.isfile(sql) else ["-c", sql]
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = subprocess.run(prefix + [f"{PG_BIN}/psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
                                       "-h", host or self.address, "-p", str(self.port), "-U", "postgres",
                                       "-d", db, *args],
                             capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "PGPASSWORD": PASSWORD})
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr}")
        return out.stdout.strip()

    def stop(self) -> None:
        """Fast shutdown by PID; immediate shutdown if that hangs. Idempotent.
        The PID is read again: in the pair, the agent restarts the server."""
        self.pid = self.postmaster_pid() or self.pid
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
