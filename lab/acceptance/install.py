"""The two-node installation in the lab, built the way the shipped one is by
default (postgresql_mode: replicated): the replicated database of
lab/vlab/pgcluster.py (a primary on a, a synchronous hot standby on b, the
agent vipd-pg on each, the DB address 198.18.0.200 as vipd's instance `db`
with quorum, and a witness vipd on node d), loaded once by the stand-in's
prepare_db and given the installation's indexes; on a and b the bingo
stand-in as a pool of POOL members per node (lab/vlab/pool.py, made by
libexec/bingo-pool as bingo-pool-net@.service does), each under
lab/vlab/supervise.py (standing in for systemd's bingo@.service), with the DB
address as its only database host; the project's nginx front with the pool's
server on bingo's port; and vipd with the instances `web` (the VIP, tracking
nginx and the pool) and `db`, its checks (one monitor check per member
restarts that member through its supervisor) and nginx manager."""

import os
import pwd
import re
import time

from vlab import VIP, Lab, LabError, say
from vlab.bingo import listening_ports, shipped_check
from vlab.pgcluster import DB_VIP, PgCluster
from vlab.web import REPO, as_vipd

from .measure import wait_true

INDEXES_SQL = os.path.join(REPO, "deploy", "ansible", "roles", "postgresql", "files", "bingo-indexes.sql")
NODES = ("a", "b")
WITNESS = "d"
DB_PRIMARY = "b"
MEMORY_LIMIT_MB = 128   # the shipped limit (roles/vipd defaults): a few times bingo's normal use
POOL = 4                # members per node: roles/bingo's bingo_pool_size default
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
    def __init__(self, scale, email, http3=True, pool=POOL):
        self.scale, self.email, self.pool_size = scale, email, pool
        self.nginx, self.nginx_why = trixie_nginx() if http3 else (None, "not asked for (--no-http3)")
        self.lab = Lab(nodes=(*NODES, WITNESS), clients=("c",), nginx_binary=self.nginx or "/usr/sbin/nginx",
                       check_timing={name: shipped_check(name) for name in ("nginx", "bingo")})
        # The pools' members reach the database address held by their own node
        # with their pool address (198.19.K.x); off the node they are masqueraded.
        self.db = PgCluster(self.lab, witness=WITNESS, settings=DB_SETTINGS, clients="198.18.0.0/15")
        self.pg, self.start_s, self.timings = {}, {}, {}

    # --- paths of the stand-in for systemd ----------------------------------------------

    def members(self, node=None):
        """NODE's pool members (e.g. a1..a4), or every node's."""
        if node is None:
            return [m for n in NODES for m in self.lab.members(n)]
        return self.lab.members(node)

    def sup_file(self, member, what):
        return self.lab.supervisor_file(member, what)

    def bingo_pid(self, member):
        return self.lab.supervised_pid(member)

    def events(self, member):
        return self.lab.supervisor_events(member)

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
            lab.pool_up(n, self.pool_size)   # bingo-pool-net@1..N
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
            # bingo found as the installation finds it (its log directory, then
            # its port), with the pool's first member; the others run the same.
            first, *rest = self.members(n)
            t1 = time.monotonic()
            lab.start_bingo(first, email=self.email, db=db, discover=True)
            self.start_s[n] = round(time.monotonic() - t1, 2)
            lab.stop(f"bingo-{first}")        # from now on under the supervisor
            for m in rest:
                lab.bingo_argv[m] = [re.sub(rf"^node-{first}$", f"node-{m}", a) for a in lab.bingo_argv[first]]
            lab.write_pool_nginx(n)           # the pool's server on the port now known
        # vipd runs as user vipd once started: a reload reads the key as vipd
        # (in production /etc/vipd/auth.key is the vipd user's, mode 0600).
        vipd = pwd.getpwnam("vipd")
        os.chown(lab.key, vipd.pw_uid, vipd.pw_gid)
        for n in NODES:
            self.reload_vipd(n)
        # One database: loaded once, through the DB address; the indexes on the primary.
        lab.nsexec("a", *as_vipd(), *lab.bingo_argv[self.members("a")[0]][:-1], "--scale", self.scale, "--seed", 1, "prepare_db",
                   timeout=3600)
        self.pg[DB_PRIMARY].psql(INDEXES_SQL, timeout=3600)
        self.timings["database_s"] = round(time.monotonic() - t0, 1)
        say(f"database loaded (scale {self.scale}), replicated and indexed in {self.timings['database_s']} s")
        for m in self.members():
            self.start_supervised(m, wait=False)
        for m in self.members():
            self.lab.wait_for(lambda: self.serving(m), 60, f"bingo {m} under the supervisor")
        lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("b") == "backup", 30, "a to hold the VIP")
        self.settle()
        return self

    def start_supervised(self, member, wait=True):
        self.lab.start_supervised(member)
        if wait:
            self.lab.wait_for(lambda: self.serving(member), 60, f"bingo {member} under the supervisor")

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
        """The instances and the checks of NODE: the node's bingo check (role
        backend) through its pool, up while any member answers; per member a
        monitor check of its /ping and one of its memory (the shipped memory
        check on the supervised PID instead of systemd's MemoryCurrent), each
        restarting that member: SIGHUP to its supervisor (in production
        systemctl restart bingo@I.service)."""
        self.lab.check_extra.pop("bingo", None)
        self.lab.extra_checks = self.db.pg_check_yaml() + self.lab.member_checks_yaml(
            node, shipped_check("bingo"), memory_limit_mb=MEMORY_LIMIT_MB)
        other = next(o for o in NODES if o != node)
        return f"""instances:
  - name: web
    vrid: 51
    peers: [node-{other}]
    track_checks: [nginx, bingo]
    vips:
      - address: {VIP}/24
""" + self.db.instance_yaml(head=False)

    def close(self, failed=False):
        self.db.close()
        self.lab.close(keep=failed)

    # --- observation --------------------------------------------------------------------

    def port(self):
        return self.lab.backend_port

    def serving(self, member, max_s=1.0):
        """The pool member (bingo) MEMBER answers /ping with pong (from its own namespace)."""
        pid = self.bingo_pid(member)
        if not pid or self.port() not in listening_ports(pid):
            return False
        status, body = self.lab.curl(member, f"http://127.0.0.1:{self.port()}/ping", timeout=max_s)
        return status == 200 and body.strip() == "pong"

    def node_in_service(self, node):
        lab = self.lab
        if lab.state(node) not in ("master", "backup") or not all(self.serving(m) for m in self.members(node)):
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
        overloaded endpoint leaves queries queued for bingo's 2 connections, whose clients
        gave up long ago, and the next item would measure them. If there was a
        queue, nginx's fail_timeout (10 s) passes too, so it has forgotten the failures."""
        def ready():
            return all(self.lab.curl(m, f"http://127.0.0.1:{self.port()}/db_dummy", timeout=1)[0] == 200
                       for m in self.members())
        took = wait_true(ready, 900, 0.5)
        if took:
            time.sleep(11)
        self.settle()
        return took

    def via_vip(self, path, method="GET", timeout=5, extra=()):
        return self.lab.curl("c", f"http://{VIP}{path}", method=method, timeout=timeout, extra=extra)
