"""The two-node installation in the lab, built the way the shipped one is by
default (postgresql_mode: replicated): the replicated database of
lab/vlab/pgcluster.py (a primary on a, a synchronous hot standby on b, the
agent vipd-pg on each, the DB address 198.18.0.200 as vipd's instance `db`
with quorum, and a witness vipd on node d), loaded once by the stand-in's
prepare_db and given the installation's indexes; on a and b the bingo
stand-in under lab/vlab/supervise.py (standing in for systemd's
bingo.service) with the DB address as its only database host, the project's
nginx front, and vipd with the instances `web` (the VIP, tracking nginx and
bingo) and `db`, its checks (the bingo check restarts bingo through the
supervisor) and nginx manager."""

import json
import os
import pwd
import time

from vlab import VIP, Lab, LabError, say
from vlab.bingo import PYTHON, listening_ports, shipped_check, shipped_restart_sec
from vlab.pgcluster import DB_VIP, PgCluster
from vlab.web import REPO, as_vipd

from .measure import wait_true

SUPERVISE = os.path.join(REPO, "lab", "vlab", "supervise.py")
INDEXES_SQL = os.path.join(REPO, "deploy", "ansible", "roles", "postgresql", "files", "bingo-indexes.sql")
NODES = ("a", "b")
WITNESS = "d"
DB_PRIMARY = "b"
MEMORY_CHECK = os.path.join(REPO, "libexec", "vipd-memory-check")
MEMORY_LIMIT_MB = 128   # the shipped limit (roles/vipd defaults): a few times bingo's normal use
# Over the spec's server settings: the acceptance's load (bingo's pools, the
# checks, the suite's own psql) and bingo.md's work_mem for the session list.
DB_SETTINGS = {"max_connections": "100", "shared_buffers": "128MB", "work_mem": "32MB", "wal_keep_size": "1GB"}


def trixie_nginx():
    """(path of trixie's nginx 1.26 with HTTP/3, None) or (None, why not)."""
    try:
        from vlab import trixie_nginx as tn
        return tn.fetch(), None
    except Exception as e:   # unreachable suite, apt failure: reported, never fatal
        return None, f"{type(e).__name__}: {str(e).strip()[:300]}"


class Installation:
    def __init__(self, scale, email, http3=True):
        self.scale, self.email = scale, email
        self.nginx, self.nginx_why = trixie_nginx() if http3 else (None, "not asked for (--no-http3)")
        self.lab = Lab(nodes=(*NODES, WITNESS), clients=("c",), nginx_binary=self.nginx or "/usr/sbin/nginx",
                       check_timing={name: shipped_check(name) for name in ("nginx", "bingo")})
        self.db = PgCluster(self.lab, witness=WITNESS, settings=DB_SETTINGS)
        self.pg, self.start_s, self.timings = {}, {}, {}

    # --- paths of the stand-in for systemd ----------------------------------------------

    def sup_dir(self, node):
        return os.path.join(self.lab.dir, node, "supervise")

    def sup_file(self, node, what):
        return os.path.join(self.sup_dir(node), what)

    def bingo_pid(self, node):
        try:
            with open(self.sup_file(node, "child.pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists(f"/proc/{pid}") else None

    def events(self, node):
        try:
            with open(self.sup_file(node, "events")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def root(self, node):
        return os.path.join(self.lab.dir, node, "bingo-root")

    # --- build ----------------------------------------------------------------------------

    def up(self):
        lab = self.lab
        lab.up()   # setup_front decides HTTP/3 for the nginx it runs (Lab's nginx_binary)
        t0 = time.monotonic()
        for n in NODES:
            # As bingo-blackhole.service does on every node (the 8.8.8.8 start-up wait).
            lab.nsexec(n, "ip", "route", "replace", "blackhole", "8.8.8.8/32")
        for n in NODES:
            lab.start_front(n)
        # The database pair, its address held by vipd before anything writes
        # (the standby streams, synchronously, while prepare_db loads). vipd
        # right after the agents: an agent fences a primary whose vipd does
        # not answer for a second.
        # The primary on b, the node that does not hold the VIP: one node's
        # death then costs either the VIP's move or the database's, never both
        # at once (docs/deploying-bingo.md). preempt is off for db, so it stays.
        self.db.up(primary=DB_PRIMARY, standby="a", vipd=False)
        self.pg = self.db.pg
        self.db.start_vipds(DB_PRIMARY, "a", start=self.start_vipd)
        db = self.db.bingo_hosts()   # the DB address only, on both nodes
        for n in NODES:
            # bingo found as the installation finds it (its log directory, then its port).
            t1 = time.monotonic()
            lab.start_bingo(n, email=self.email, db=db, discover=True)
            self.start_s[n] = round(time.monotonic() - t1, 2)
            lab.stop(f"bingo-{n}")        # from now on under the supervisor
        # vipd runs as user vipd once started: a reload reads the key as vipd
        # (in production /etc/vipd/auth.key is the vipd user's, mode 0600).
        vipd = pwd.getpwnam("vipd")
        os.chown(lab.key, vipd.pw_uid, vipd.pw_gid)
        for n in NODES:
            self.reload_vipd(n)
        # One database: loaded once, through the DB address; the indexes on the primary.
        lab.nsexec("a", *as_vipd(), *lab.bingo_argv["a"][:-1], "--scale", self.scale, "--seed", 1, "prepare_db",
                   timeout=3600)
        self.pg[DB_PRIMARY].psql(INDEXES_SQL, timeout=3600)
        self.timings["database_s"] = round(time.monotonic() - t0, 1)
        say(f"database loaded (scale {self.scale}), replicated and indexed in {self.timings['database_s']} s")
        for n in NODES:
            self.start_supervised(n)
        lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("b") == "backup", 30, "a to hold the VIP")
        self.settle()
        return self

    def start_supervised(self, node):
        d = self.sup_dir(node)
        os.makedirs(d, exist_ok=True)
        vipd = pwd.getpwnam("vipd")
        os.chown(d, vipd.pw_uid, vipd.pw_gid)
        self.lab.spawn(f"supervise-{node}", node, [PYTHON, SUPERVISE, "--restart-sec", str(shipped_restart_sec()),
                                                   "--pidfile", self.sup_file(node, "supervise.pid"),
                                                   "--child-pidfile", self.sup_file(node, "child.pid"),
                                                   "--events", self.sup_file(node, "events"),
                                                   "--", *self.lab.bingo_argv[node]], user="vipd")
        self.lab.wait_for(lambda: self.serving(node), 60, f"bingo on {node} under the supervisor")

    def start_vipd(self, node):
        """vipd with the instances web and db."""
        self.lab.start_vipd(node, election=self.election(node))

    def reload_vipd(self, node):
        """NODE's vipd.yaml written again (bingo's discovered port in the bingo
        check and the nginx section) and reloaded, as the playbook does once
        it has discovered the port."""
        with open(os.path.join(self.lab.dir, node, "vipd.yaml"), "w") as f:
            f.write(self.lab.vipd_config(node, election=self.election(node)))
        self.lab.vipctl(node, "reload")

    def election(self, node):
        """The instances, and the bingo check's restart: SIGHUP to this node's
        supervisor (in production: systemctl restart bingo.service)."""
        cmd = ["/bin/sh", "-c", f"kill -HUP $(cat {self.sup_file(node, 'supervise.pid')})"]
        self.lab.check_extra["bingo"] = f"\n    restart:\n      command: {json.dumps(cmd)}"
        # The shipped memory check (a leak is drained and restarted long before
        # MemoryMax), on the supervised PID instead of systemd's MemoryCurrent.
        memory = [MEMORY_CHECK, "--pidfile", self.sup_file(node, "child.pid"), "--limit-mb", str(MEMORY_LIMIT_MB)]
        self.lab.extra_checks = self.db.pg_check_yaml() + f"""
  - name: bingo-memory
    role: backend
    exec: {{command: {json.dumps(memory)}}}
    interval: 2s
    timeout: 1s
    rise: 1
    fall: 2
    restart:
      command: {json.dumps(cmd)}"""
        other = next(o for o in NODES if o != node)
        return f"""instances:
  - name: web
    vrid: 51
    peers: [node-{other}]
    track_checks: [nginx, bingo, bingo-memory]
    vips:
      - address: {VIP}/24
""" + self.db.instance_yaml(head=False)

    def close(self, failed=False):
        self.db.close()
        self.lab.close(keep=failed)

    # --- observation --------------------------------------------------------------------

    def port(self):
        return self.lab.backend_port

    def serving(self, node, max_s=1.0):
        """bingo on NODE answers /ping with pong (from its own namespace)."""
        pid = self.bingo_pid(node)
        if not pid or self.port() not in listening_ports(pid):
            return False
        status, body = self.lab.curl(node, f"http://127.0.0.1:{self.port()}/ping", timeout=max_s)
        return status == 200 and body.strip() == "pong"

    def node_in_service(self, node):
        lab = self.lab
        if lab.state(node) not in ("master", "backup") or not self.serving(node):
            return False
        if lab.curl("c", f"http://{lab.addr(node)}/ping", timeout=2)[0] != 200:
            return False
        return all(f"node-{node}" not in lab.marked_down(o) for o in NODES if o != node and o in lab.fronts)

    def whole(self):
        lab = self.lab
        return (len(lab.holders()) == 1 and all(self.node_in_service(n) for n in NODES)
                and not any(lab.marked_down(n) for n in NODES))

    def settle(self, timeout=90):
        """Until both nodes serve, one holds the VIP and no upstream marks anything down."""
        self.lab.wait_for(self.whole, timeout, "the installation to be whole again", interval=0.2)
        time.sleep(1)

    def drain(self):
        """Seconds until each bingo answers GET /db_dummy within 1 s again: an
        overloaded endpoint leaves queries queued for the pool of 2, whose clients
        gave up long ago, and the next item would measure them. If there was a
        queue, nginx's fail_timeout (10 s) passes too, so it has forgotten the failures."""
        def ready():
            return all(self.lab.curl(n, f"http://127.0.0.1:{self.port()}/db_dummy", timeout=1)[0] == 200
                       for n in NODES)
        took = wait_true(ready, 900, 0.5)
        if took:
            time.sleep(11)
        self.settle()
        return took

    def via_vip(self, path, method="GET", timeout=5, extra=()):
        return self.lab.curl("c", f"http://{VIP}{path}", method=method, timeout=timeout, extra=extra)
