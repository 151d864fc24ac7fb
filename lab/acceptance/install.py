"""The two-node installation in the lab, built the way the shipped one is by
default: on each of nodes a and b a PostgreSQL of its own (postgresql_mode:
local) loaded by the stand-in's prepare_db and given the installation's
indexes, the bingo stand-in under lab/vlab/supervise.py (standing in for
systemd's bingo.service), the project's nginx front, and vipd with its checks
(its bingo check restarts bingo through the supervisor) and nginx manager."""

import json
import os
import pwd
import time

from vlab import VIP, Lab, LabError, say
from vlab.bingo import PYTHON, listening_ports, shipped_check, shipped_restart_sec
from vlab.web import REPO, as_vipd

from .measure import wait_true

SUPERVISE = os.path.join(REPO, "lab", "vlab", "supervise.py")
INDEXES_SQL = os.path.join(REPO, "deploy", "ansible", "roles", "postgresql", "files", "bingo-indexes.sql")
NODES = ("a", "b")


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
        self.lab = Lab(nodes=NODES, clients=("c",), nginx_binary=self.nginx or "/usr/sbin/nginx",
                       check_timing={name: shipped_check(name) for name in ("nginx", "bingo")})
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
            self.pg[n] = lab.start_postgres(n, settings={"fsync": "on", "max_connections": "100"})
            db = [(lab.addr(n), self.pg[n].port)]   # local mode: each bingo its own node's database
            # bingo found as the installation finds it (its log directory, then its
            # port); prepare_db then loads the data and the installation's indexes follow.
            t1 = time.monotonic()
            lab.start_bingo(n, email=self.email, db=db, discover=True)
            self.start_s[n] = round(time.monotonic() - t1, 2)
            lab.stop(f"bingo-{n}")        # from now on under the supervisor
            lab.nsexec(n, *as_vipd(), *lab.bingo_argv[n][:-1], "--scale", self.scale, "--seed", 1, "prepare_db",
                       timeout=3600)
            self.pg[n].psql(INDEXES_SQL, timeout=3600)
        self.timings["database_s"] = round(time.monotonic() - t0, 1)
        say(f"databases loaded (scale {self.scale}) and indexed in {self.timings['database_s']} s")
        for n in NODES:
            self.start_supervised(n)
        for n in NODES:
            lab.start_front(n)
        for n in NODES:
            self.start_vipd(n)
        lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("b") == "backup", 20, "a to hold the VIP")
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
        """vipd with the bingo check's restart: SIGHUP to this node's supervisor
        (in production: systemctl restart bingo.service)."""
        cmd = ["/bin/sh", "-c", f"kill -HUP $(cat {self.sup_file(node, 'supervise.pid')})"]
        self.lab.check_extra["bingo"] = f"\n    restart:\n      command: {json.dumps(cmd)}"
        self.lab.start_vipd(node)

    def close(self, failed=False):
        for pg in self.pg.values():
            pg.stop()
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
