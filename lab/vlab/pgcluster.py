"""The replicated database of issue 15 in the lab: on nodes a and b, a
PostgreSQL 15 primary (initdb) and a hot standby (pg_basebackup of it), the
agent libexec/vipd-pg on each (run from the repository, with a pg.conf made
here), and vipd on each with one instance, `db` (vrid 52, the DB address
198.18.0.200/24), tracking the `pg` check on the agent's /eligible.

    with Lab() as lab:
        db = PgCluster(lab).up()           # A primary and master of db, B streaming
        db.kill_node("a")                  # link down + SIGKILL of vipd, agent, postgres
        db.wait_role("b", "primary", 10)
        db.restart_node("a")               # as a reboot: postgres, vipd, agent started again

The agent starts and stops PostgreSQL itself (pg_ctl, like the lab's start
and stop_immediate commands), so each postmaster's PID is read from its
postmaster.pid and recorded in the lab's registry as soon as it appears (a
watcher thread, 20 ms); close() also stops any postmaster the registry never
saw. Addresses: 198.18.0.0/15 only.
"""

import json
import os
import pwd
import shutil
import subprocess
import threading
import time

from .postgres import PgServer, PG_BIN
from .procs import descendants
from .topology import PREFIXLEN
from .util import LabError, say, wait_for
from .web import REPO

DB_VIP = "198.18.0.200"
DB_VRID = 52
AGENT = os.path.join(REPO, "libexec", "vipd-pg")
LOAD = os.path.join(REPO, "lab", "pgload.py")
AGENT_PORT = 8009
REPL_USER, REPL_PASSWORD = "replicator", "replicator-lab"
PORT = 5432
# The server settings of the spec; wal_keep_size small for the lab.
SHARED = {"listen_addresses": "*", "port": str(PORT), "wal_level": "replica", "hot_standby": "on",
          "wal_log_hints": "on", "max_wal_senders": "4", "wal_keep_size": "256MB", "wal_sender_timeout": "1s",
          "wal_receiver_timeout": "1s", "wal_receiver_status_interval": "1s", "wal_retrieve_retry_interval": "200ms", "synchronous_commit": "on",
          "max_connections": "60", "shared_buffers": "32MB", "fsync": "on"}


def conninfo_standby(node):
    return (f"host={DB_VIP} port={PORT} user={REPL_USER} password={REPL_PASSWORD} application_name=node-{node} "
            "connect_timeout=2 keepalives_idle=1 keepalives_interval=1 keepalives_count=2")


class PgCluster:
    def __init__(self, lab, alone_after="2s", promotable_within="1s", fence_after="3s", interval="200ms",
                 witness=None, settings=None, clients="198.18.0.0/24"):
        """WITNESS: a third lab node running vipd as a witness (node.witness) and the
        db instance with quorum: true on every node (docs/protocol.md, "Quorum").
        CLIENTS: who may connect to bingo's database (pg_hba; the acceptance adds
        the bingo pools' 198.19.0.0/16)."""
        self.lab = lab
        self.clients = clients
        self.witness = witness
        self.settings = {**SHARED, **(settings or {})}   # SETTINGS: server settings over the spec's
        self.timing = dict(alone_after=alone_after, promotable_within=promotable_within, fence_after=fence_after)
        self.interval = interval
        self.pg = {}
        self._stop = threading.Event()
        self._watcher = None

    # --- bring-up -------------------------------------------------------------------------

    def up(self, primary="a", standby="b", vipd=True):
        """VIPD=False: the servers only; the caller starts vipd with the db
        instance in its own config (pg_check_yaml, instance_yaml) and calls
        start_vipds, which starts the agents too (the acceptance does)."""
        lab = self.lab
        base = os.path.join(lab.dir, "pg")
        os.makedirs(base, exist_ok=True)
        os.chmod(base, 0o755)
        for n in (primary, standby):
            self.pg[n] = PgServer(address=lab.addr(n), port=PORT, netns=lab.ns(n), clients=self.clients,
                                  listen="*", parent=base)
            self.pg[n].settings = {}   # all in postgresql.conf (SHARED): nothing overrides it
        hba = (f"host replication {REPL_USER} 198.18.0.0/24 scram-sha-256",)
        p = self.pg[primary].start(shared=self.settings, hba=hba)
        lab.registry.record(p.pid, f"postgres-{primary}")
        p.psql(f"CREATE ROLE {REPL_USER} WITH REPLICATION LOGIN PASSWORD '{REPL_PASSWORD}'")
        # The standby is copied from the primary's own address (the DB address
        # does not exist before vipd runs) and then streams from the DB address.
        s = self.pg[standby].init_standby(lab.addr(primary), REPL_USER, REPL_PASSWORD, conninfo_standby(standby))
        lab.registry.record(s.pid, f"postgres-{standby}")
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        if vipd:
            self.start_vipds(primary, standby)
        say(f"database pair up: {primary} primary, {standby} standby, {DB_VIP} on {primary}")
        return self

    def start_vipds(self, primary, standby, start=None):
        """The witness (if any), the primary's vipd, then the standby's; START(node)
        starts one (default: self.start_vipd); until the pair has settled."""
        start = start or self.start_vipd
        if self.witness:
            # First: with quorum a node alone hears 1 of 3 and holds nothing.
            self.lab.start_vipd(self.witness, election=self.instance_yaml(track=False), front=False, witness=True)
        # Each agent after its vipd, as vipd-pg.service is ordered After=vipd.service:
        # an agent whose vipd does not answer for a second fences its primary.
        start(primary)
        self.start_agent(primary)
        wait_for(lambda: self.db_holders() == [primary], 15, f"{primary} holding {DB_VIP}")
        start(standby)
        self.start_agent(standby)
        self.wait_settled(primary, standby, 30)

    def wait_settled(self, primary, standby, timeout):
        """Until PRIMARY holds the DB address as a synchronous primary and
        STANDBY is an eligible streaming standby."""
        def settled():
            p, s = self.agent_status(primary), self.agent_status(standby)
            return (p and s and p["role"] == "primary" and p["synchronous"] and s["role"] == "standby"
                    and s["eligible"] and self.db_holders() == [primary])
        wait_for(settled, timeout, f"{primary} synchronous primary, {standby} eligible standby "
                 f"({self.agent_status(primary)}, {self.agent_status(standby)})", interval=0.1)

    def roles(self, timeout=60):
        """(primary, standby) once the pair has settled: the holder of the DB
        address a synchronous primary, the other an eligible standby."""
        def settled():
            holders = self.db_holders()
            if len(holders) != 1:
                return None
            p = holders[0]
            s = "b" if p == "a" else "a"
            try:
                self.wait_settled(p, s, 0.1)
            except Exception:
                return None
            return p, s
        return wait_for(settled, timeout, f"the pair to settle ({self.agent_status('a')}, {self.agent_status('b')})",
                        0.2)

    def pg_conf(self, node):
        pg, d = self.pg[node], os.path.join(self.lab.dir, node)
        return f"""; vipd-pg on lab node {node} (lab/vlab/pgcluster.py)
[vipd]
instance = db
control_socket = {self.lab.socket(node)}
[postgresql]
data_directory = {pg.data}
bin_directory = {PG_BIN}
host = {pg.dir}
port = {PORT}
user = postgres
password_file = {pg.password_file}
start = {subprocess.list2cmdline(pg.ctl_start_argv())}
stop_immediate = {subprocess.list2cmdline(pg.ctl_stop_immediate_argv())}
[replication]
db_address = {DB_VIP}
application_name = node-{node}
user = {REPL_USER}
password_file = {d}/pg-replication.password
rewind_user = postgres
rewind_password_file = {pg.password_file}
alone_after = {self.timing["alone_after"]}
promotable_within = {self.timing["promotable_within"]}
fence_after = {self.timing["fence_after"]}
[agent]
listen = 127.0.0.1:{AGENT_PORT}
interval = {self.interval}
state_file = {d}/vipd-pg/state.json
"""

    def start_agent(self, node):
        d = os.path.join(self.lab.dir, node)
        os.makedirs(os.path.join(d, "vipd-pg"), exist_ok=True)
        os.chmod(d, 0o755)
        pw = pwd.getpwnam("postgres")
        os.chown(os.path.join(d, "vipd-pg"), pw.pw_uid, pw.pw_gid)
        secret = os.path.join(d, "pg-replication.password")
        with open(secret, "w") as f:
            f.write(REPL_PASSWORD + "\n")
        os.chmod(secret, 0o600)
        os.chown(secret, pw.pw_uid, pw.pw_gid)
        conf = os.path.join(d, "pg.conf")
        with open(conf, "w") as f:
            f.write(self.pg_conf(node))
        out = subprocess.run(["/usr/bin/python3", AGENT, "--config", conf, "check-config"], capture_output=True,
                             text=True)
        if out.returncode != 0:
            raise LabError(f"vipd-pg check-config on {node}: {out.stderr}")
        # As the unit runs it: user postgres, with vipd's group for the control socket.
        argv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--groups=vipd", "--",
                "/usr/bin/python3", AGENT, "--config", conf, "run"]
        self.lab.spawn(f"vipd-pg-{node}", node, argv)
        wait_for(lambda: self.agent_status(node), 10, f"vipd-pg on {node} to answer", interval=0.05)

    def vipd_yaml(self):
        """vipd's instance and check, as in the spec (and preempt off: see docs)."""
        return "checks:" + self.pg_check_yaml() + "\n" + self.instance_yaml()

    def pg_check_yaml(self):
        """The pg check, as one more entry of a `checks:` list."""
        return f"""
  - name: pg
    role: front
    http: {{url: "http://127.0.0.1:{AGENT_PORT}/eligible", body_contains: "eligible"}}
    interval: 500ms
    timeout: 400ms
    rise: 1
    fall: 3"""

    def instance_yaml(self, track=True, head=True):
        """The db instance (TRACK: following the pg check; the witness has none;
        HEAD: with the `instances:` line)."""
        return ("instances:\n" if head else "") + f"""  - name: db
    vrid: {DB_VRID}
    vips: [{{address: {DB_VIP}/{PREFIXLEN}}}]
{"    track_checks: [pg]" + chr(10) if track else ""}    timing: {{preempt: false}}
{"    quorum: true" + chr(10) if self.witness else ""}"""

    def start_vipd(self, node):
        self.lab.start_vipd(node, election=self.vipd_yaml(), front=False)

    # --- the postmasters the agents start -------------------------------------------------

    def _watch(self):
        while not self._stop.wait(0.02):
            for node, pg in list(self.pg.items()):
                pid = pg.postmaster_pid()
                if pid and not self.lab.registry.ours(pid):
                    self.lab.registry.record(pid, f"postgres-{node}")

    def postgres_pids(self, node):
        """NODE's postmaster and every backend of it (read before any kill)."""
        pid = self.pg[node].postmaster_pid()
        return [pid, *descendants(pid)] if pid else []

    # --- faults -----------------------------------------------------------------------------

    def kill_node(self, node):
        """Hard node death: its link down and vipd, the agent and every
        PostgreSQL process SIGKILLed at once (lab.kill_hard)."""
        pids = [p for p in (self.lab.vipd_pid(node), self.lab.pid(f"vipd-pg-{node}")) if p]
        return self.lab.kill_hard(node, pids=pids + self.postgres_pids(node))

    def restart_node(self, node):
        """NODE back as after a reboot: link up, the dead VIP gone, then what
        systemd starts: PostgreSQL as its data directory says (a primary if it
        was one), vipd and the agent."""
        self.lab.reboot_link(node, address=f"{DB_VIP}/{PREFIXLEN}")
        self.pg[node].ctl_start()
        self.start_vipd(node)
        self.start_agent(node)

    def cut_replication(self, node, on=True):
        """NODE's PostgreSQL traffic (TCP 5432, both ways) dropped on its own eth0
        (netdev table pgcut); heartbeats and everything else flow."""
        self.lab.nsexec(node, "nft", "delete", "table", "netdev", "pgcut", check=False)
        if on:
            self.lab.nsexec(node, "nft", "-f", "-", stdin=f"""table netdev pgcut {{
    chain in {{ type filter hook ingress device "eth0" priority 0; tcp sport {PORT} drop; tcp dport {PORT} drop; }}
    chain out {{ type filter hook egress device "eth0" priority 0; tcp sport {PORT} drop; tcp dport {PORT} drop; }}
}}""")

    def cut_link(self, x, y, on=True):
        """Every IP packet between X and Y dropped, both ways, on their own eth0s
        (netdev tables pglink): heartbeats and replication alike; the others
        (the witness, the client) still reach both."""
        for me, other in ((x, y), (y, x)):
            self.lab.nsexec(me, "nft", "delete", "table", "netdev", "pglink", check=False)
            if on:
                addr = self.lab.addr(other)
                self.lab.nsexec(me, "nft", "-f", "-", stdin=f"""table netdev pglink {{
    chain in {{ type filter hook ingress device "eth0" priority 0; ip saddr {addr} drop; }}
    chain out {{ type filter hook egress device "eth0" priority 0; ip daddr {addr} drop; }}
}}""")

    # --- bingo on the pair ------------------------------------------------------------------

    def bingo_hosts(self):
        """bingo's postgres_cluster.hosts: the DB address only (never a node's own)."""
        return [(DB_VIP, PORT)]

    def start_bingos(self, scale=0.002, knobs=("--init-timeout", "0.2", "--init-fail-fast", "0.2")):
        """The stand-in's prepare_db once through the DB address (small SCALE),
        then a stand-in on every node of the pair using only that address."""
        lab = self.lab
        first = next(iter(self.pg))
        lab.start_bingo(first, db=self.bingo_hosts(), knobs=("--scale", str(scale)), command="prepare_db",
                        wait=False)
        wait_for(lambda: not lab.running(f"bingo-{first}"), 120, "the stand-in's prepare_db", interval=0.2)
        if "sessions" not in self.psql_db("SELECT string_agg(tablename, ',') FROM pg_tables", first):
            raise LabError(f"prepare_db made no tables: {lab.log(f'bingo-{first}')[-1500:]}")
        for n in self.pg:
            lab.start_bingo(n, db=self.bingo_hosts(), knobs=knobs)

    # --- a write load through the DB address (lab/pgload.py in the client namespace) -----------

    def start_load(self, table, rate=50, via="a", host=None):
        """TABLE made on the primary (through the DB address, from VIA's
        namespace), then pgload.py writing to it from the client namespace
        (to HOST: default the DB address; a node's own address to write to
        that node's server whatever its role)."""
        self.psql_db(f"CREATE TABLE {table} (id bigint PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())", via)
        out = os.path.join(self.lab.dir, f"load-{table}.json")
        self.lab.spawn(f"load-{table}", self.lab.clients[0], ["/usr/bin/python3", LOAD, "--table", table,
                                                              "--rate", str(rate), "--host", host or DB_VIP],
                       stdout=out)
        return out

    def stop_load(self, table):
        """SIGTERM to the load; its JSON (pgload.py's docstring)."""
        self.lab.stop(f"load-{table}", timeout=20)
        with open(os.path.join(self.lab.dir, f"load-{table}.json")) as f:
            return json.load(f)

    def psql_db(self, sql, via="a"):
        """SQL on whichever server holds the DB address, run from VIA's namespace."""
        return self.pg[via].psql(sql, host=DB_VIP, timeout=60)

    def missing(self, node, table, ids):
        """Which of IDS are not in TABLE on NODE's server."""
        if not ids:
            return []
        present = set(map(int, self.pg[node].psql(f"SELECT id FROM {table}").split()))
        return sorted(set(ids) - present)

    # --- observation ---------------------------------------------------------------------------

    def agent_status(self, node):
        """The agent's /status on NODE, or None."""
        out = subprocess.run(["ip", "netns", "exec", self.lab.ns(node), "curl", "-s", "-m", "2",
                              f"http://127.0.0.1:{AGENT_PORT}/status"], capture_output=True, text=True)
        try:
            return json.loads(out.stdout) if out.returncode == 0 else None
        except ValueError:
            return None

    def role(self, node):
        st = self.agent_status(node)
        return st["role"] if st else "down"

    def wait_role(self, node, role, timeout):
        return wait_for(lambda: self.role(node) == role, timeout, f"{node} {role} (now {self.role(node)})", 0.1)

    def db_holders(self):
        return self.lab.holders(DB_VIP)

    def in_recovery(self, node):
        return self.pg[node].psql("SELECT pg_is_in_recovery()") == "t"

    def agent_log(self, node):
        return self.lab.log(f"vipd-pg-{node}")

    def diag(self):
        parts = [self.lab.diag()]
        for n in self.pg:
            parts.append(f"--- vipd-pg-{n}.log\n" + "\n".join(self.agent_log(n).splitlines()[-25:]))
            parts.append(f"--- agent status {n}: {self.agent_status(n)}")
            log = os.path.join(self.pg[n].dir, "log")
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    parts.append(f"--- postgres log {n}\n" + "".join(f.readlines()[-15:]))
        return "\n".join(parts)

    # --- down -------------------------------------------------------------------------------------

    def close(self):
        """Stops the watcher and every postmaster of the pair by its PID (the
        registry kills the rest when the lab closes)."""
        self._stop.set()
        for n in ("a", "b"):
            if self.lab.running(f"vipd-pg-{n}"):
                self.lab.stop(f"vipd-pg-{n}")
        for n, pg in self.pg.items():
            log = os.path.join(pg.dir, "log")
            if os.path.exists(log):   # PgServer.stop removes its directory; the log stays with the lab's
                shutil.copy(log, os.path.join(self.lab.dir, f"postgres-{n}.log"))
            try:
                pg.stop()
            except Exception as e:
                say(f"stopping postgres in {pg.dir}: {e}")
        if os.environ.get("LAB_KEEP") != "1":
            shutil.rmtree(os.path.join(self.lab.dir, "pg"), ignore_errors=True)
