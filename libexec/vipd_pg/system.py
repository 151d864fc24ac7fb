"""Everything the agent does to the world, behind one small class: vipd's
status over its control socket, the local PostgreSQL (psycopg2), the server
on the DB address, and the commands that start, stop and rewind. Tests of
the decisions fake this class (they need no PostgreSQL); the lab runs it
for real."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from .config import Config, read_secret
from .decide import Local, Remote, Sender, Vipd


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix socket (vipd's control API)."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class ActionError(Exception):
    pass


def _alive(pid: int) -> bool:
    """PID exists and is not a zombie: an exited postmaster whose parent has
    not reaped it yet (an orphan waits for init) no longer serves anything."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _quote_conninfo(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conf_string(value: str) -> str:
    """VALUE as a postgresql.conf string literal. The file's parser undoes
    backslash escapes too, so a conninfo's own escaping (a backslash in a
    password) needs its backslashes doubled once more: with only the quotes
    doubled, 'a\\b' reached libpq as 'a\b', which it reads as "ab" (the
    playbook test's password has a backslash: the rejoined standby could
    not log in, and was rewound every 30 s)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def conninfo(**params) -> str:
    return " ".join(f"{k}={_quote_conninfo(str(v))}" for k, v in params.items() if v not in (None, ""))


# Short client-side limits: a dead peer must cost the loop seconds, not minutes.
NET = dict(connect_timeout=2, keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=2,
           tcp_user_timeout=3000)


class System:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.conn = None

    # --- vipd ---------------------------------------------------------------------

    def vipd(self) -> Vipd:
        try:
            c = UnixHTTPConnection(self.cfg.control_socket, timeout=0.5)
            c.request("GET", "/v1/status")
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status != 200:
                return Vipd(False, error=f"GET /v1/status: {r.status}")
            status = json.loads(body)
        except (OSError, ValueError, http.client.HTTPException) as e:
            return Vipd(False, error=f"{type(e).__name__}: {e}")
        node = status.get("node")
        for inst in status.get("instances") or [status]:
            if inst.get("instance") == self.cfg.instance:
                quorum = inst.get("quorum")
                held = bool(quorum.get("held", True)) if isinstance(quorum, dict) else True
                interval = float(inst.get("advert_interval_ms") or 0) / 1000
                return Vipd(True, node=node, state=inst.get("state"), master=inst.get("master"), quorum_held=held,
                            advert_interval=interval)
        return Vipd(True, node=node, state="absent", error=f"vipd runs no instance {self.cfg.instance}")

    def report(self, event: str, reason: str):
        """Hands an event to vipd (POST /v1/events), which logs, counts and
        sends it to its webhooks. In a thread: the loop never waits for it,
        and a vipd that is down only costs the event (the log has it)."""
        def post():
            try:
                c = UnixHTTPConnection(self.cfg.control_socket, timeout=2)
                c.request("POST", "/v1/events", json.dumps({"event": event, "reason": reason,
                                                             "instance": self.cfg.instance}),
                          {"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    sys.stderr.write(f"vipd-pg: vipd refused the {event} event: HTTP {r.status}\n")
            except (OSError, http.client.HTTPException) as e:
                sys.stderr.write(f"vipd-pg: could not hand the {event} event to vipd: {e}\n")
        threading.Thread(target=post, daemon=True).start()

    # --- the local server -----------------------------------------------------------

    def _local_conn(self):
        import psycopg2
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(
                host=self.cfg.host, port=self.cfg.port, user=self.cfg.user, dbname="postgres",
                password=read_secret(self.cfg.password_file) or None, connect_timeout=2,
                application_name="vipd-pg",
                # Our own statements never wait for a standby (ALTER SYSTEM
                # writes no WAL, but a stuck standby must never stall the agent).
                options="-c synchronous_commit=local -c statement_timeout=2000")
            self.conn.autocommit = True
        return self.conn

    def _sql(self, query: str, args=(), timeout_ms: int | None = None):
        try:
            cur = self._local_conn().cursor()
            if timeout_ms is not None:
                cur.execute("SET statement_timeout = %s", (timeout_ms,))
            try:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else None
            finally:
                if timeout_ms is not None:
                    cur.execute("SET statement_timeout = 2000")
        except Exception:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None

    def postmaster_pid(self) -> int | None:
        """The PID in postmaster.pid if that process lives."""
        try:
            with open(os.path.join(self.cfg.data_directory, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def local(self) -> Local:
        try:
            (recovery, sync_names), = self._sql(
                "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')")
            if not recovery:
                (wal,), = self._sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
                rows = self._sql(
                    "SELECT application_name, state, sync_state, reply_time::text,"
                    " (flush_lsn - '0/0')::bigint, (pg_current_wal_lsn() - replay_lsn)::bigint"
                    " FROM pg_stat_replication")
                return Local("primary", timeline=int(wal[:8], 16), sync_names=sync_names,
                             senders=tuple(Sender(*r) for r in rows))
            rows = self._sql(
                "SELECT status, extract(epoch FROM clock_timestamp() - last_msg_receipt_time)::float8,"
                " pid, receive_start_lsn::text, received_tli FROM pg_stat_wal_receiver")
            if not rows:
                (tli,), = self._sql("SELECT timeline_id FROM pg_control_checkpoint()")
                return Local("standby", timeline=tli)
            status, age, pid, start, tli = rows[0]
            return Local("standby", timeline=tli, receiver_status=status, receipt_age=age,
                         receiver_session=(pid, start))
        except Exception as e:
            error = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if self.postmaster_pid() is None:
                signal_file = os.path.exists(os.path.join(self.cfg.data_directory, "standby.signal"))
                return Local("stopped", error=error, standby_signal=signal_file)
            return Local("unknown", error=error)

    # --- the DB address ----------------------------------------------------------------

    def remote(self) -> Remote:
        import psycopg2
        try:
            conn = psycopg2.connect(
                host=self.cfg.db_address, port=self.cfg.port, user=self.cfg.rewind_user, dbname="postgres",
                password=read_secret(self.cfg.rewind_password_file) or None, application_name="vipd-pg-peer",
                options="-c statement_timeout=2000", **NET)
            try:
                conn.autocommit = True
                cur = conn.cursor()
                cur.execute("SELECT NOT pg_is_in_recovery(), (SELECT sync_state FROM pg_stat_replication"
                            " WHERE application_name = %s ORDER BY sync_state = 'sync' DESC LIMIT 1),"
                            " (SELECT timeline_id FROM pg_control_checkpoint())",
                            (self.cfg.application_name,))
                primary, sync_state, checkpoint_tli = cur.fetchone()
                checkpointed = True
                if primary:
                    cur.execute("SELECT pg_walfile_name(pg_current_wal_lsn())")
                    checkpointed = int(cur.fetchone()[0][:8], 16) == checkpoint_tli
            finally:
                conn.close()
            return Remote(primary=primary, sync_state_of_me=sync_state, checkpointed=checkpointed)
        except Exception as e:
            return Remote(primary=False, error=str(e).strip().splitlines()[0] if str(e).strip() else repr(e))

    # --- actions ---------------------------------------------------------------------------

    def set_sync(self, value: str):
        self._sql("ALTER SYSTEM SET synchronous_standby_names = %s", (value,))
        self._sql("SELECT pg_reload_conf()")

    def promote(self):
        # '*' until the promotion is done; the next round turns it to '' (a
        # promoted primary commits alone: decide._primary). pg_promote waits
        # for the startup process, which sleeps wal_retrieve_retry_interval
        # between attempts to get WAL from a dead primary and sees the
        # promotion only after that sleep: keep that setting short (200ms in
        # the shipped layout; the default 5 s made promotions take 5 s).
        self.set_sync("*")
        (done,), = self._sql("SELECT pg_promote(true, 30)", timeout_ms=35000)
        if not done:
            raise ActionError("pg_promote did not finish within 30 s")
        # pg_rewind on the old primary reads this server's timeline from its
        # last checkpoint: without one it sees no divergence ("no rewind
        # required") and the old primary cannot follow. Its agent waits for it.
        self._sql("CHECKPOINT", timeout_ms=0)

    def _run(self, argv, timeout, env=None):
        try:
            out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env,
                                 stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ActionError(f"{argv[0]}: {e}")
        text = (out.stdout + out.stderr).strip()
        if out.returncode != 0:
            raise ActionError(f"{' '.join(argv)} exited {out.returncode}: {text[-500:]}")
        return text

    def _wait_gone(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.02)
        return False

    def fence(self):
        """stop_immediate, and SIGKILL of the postmaster if that did not end it:
        after this, no new write is acknowledged here."""
        self.close()
        pid = self.postmaster_pid()
        error = None
        try:
            self._run(self.cfg.stop_immediate, timeout=15)
        except ActionError as e:
            error = e
        if pid and not self._wait_gone(pid, 10):
            os.kill(pid, signal.SIGKILL)
            if not self._wait_gone(pid, 5):
                raise ActionError(f"postmaster {pid} survives SIGKILL")
        elif error and self.postmaster_pid():
            raise error

    def start(self):
        self.close()
        self._run(self.cfg.start, timeout=120)

    def rewind(self) -> str:
        """pg_rewind from the DB address (no rewind required is fine); then the
        data directory is made a standby of it. Returns pg_rewind's last line."""
        cfg = self.cfg
        source = conninfo(host=cfg.db_address, port=cfg.port, user=cfg.rewind_user, dbname="postgres",
                          connect_timeout=5)
        # pg_rewind first finishes crash recovery of a target stopped with -m
        # immediate in single-user mode, which refuses to run in standby mode;
        # make_standby puts the file back afterwards.
        for name in ("standby.signal", "recovery.signal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(cfg.data_directory, name))
        env = dict(os.environ, PGPASSWORD=read_secret(cfg.rewind_password_file), PGCONNECT_TIMEOUT="5")
        if not env["PGPASSWORD"]:
            del env["PGPASSWORD"]
        argv = [os.path.join(cfg.bin_directory, "pg_rewind"), f"--target-pgdata={cfg.data_directory}",
                f"--source-server={source}"]
        if cfg.config_file:
            # Its single-user crash recovery reads postgresql.conf, which Debian keeps in /etc.
            argv.append(f"--config-file={cfg.config_file}")
        text = self._run(argv, timeout=1800, env=env)
        self.make_standby()
        return " / ".join(text.splitlines()[-4:]) if text else "done"

    def make_standby(self):
        """standby.signal and primary_conninfo in postgresql.auto.conf (which
        pg_rewind copied from the source: its primary_conninfo names the
        source's application_name, so ours replaces it)."""
        cfg = self.cfg
        auto = os.path.join(cfg.data_directory, "postgresql.auto.conf")
        try:
            with open(auto) as f:
                lines = f.readlines()
        except FileNotFoundError:
            lines = []
        drop = ("primary_conninfo", "primary_slot_name", "synchronous_standby_names")
        keep = [line for line in lines if not line.split("=", 1)[0].strip() in drop]
        info = conninfo(host=cfg.db_address, port=cfg.port, user=cfg.repl_user,
                        password=read_secret(cfg.repl_password_file), application_name=cfg.application_name,
                        connect_timeout=2, keepalives_idle=1, keepalives_interval=1, keepalives_count=2)
        keep.append(f"primary_conninfo = {conf_string(info)}\n")
        tmp = auto + ".vipd-pg"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(keep)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, auto)
        with open(os.path.join(cfg.data_directory, "standby.signal"), "w"):
            pass
