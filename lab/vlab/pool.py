"""The bingo pool on the lab's nodes, made by the installation's own script
(libexec/bingo-pool, as bingo-pool-net@.service runs it): member I of node N
is the namespace <P>-N<I> (lab member "N<I>", e.g. "a2") on the bridge bingo0
inside N's namespace, at 198.19.K.(10+I) where K is N's position among the
lab's nodes (198.19.0.0/16 is inside the lab's 198.18.0.0/15). N's nginx
serves the pool on bingo's port from conf.d/bingo-pool.conf, the output of
`bingo-pool nginx PORT SIZE` (docs/architecture.md, "The bingo pool")."""

import json
import os
import pwd
import subprocess

from .bingo import PYTHON, shipped_restart_sec
from .util import LabError, sh
from .web import REPO, as_vipd

POOL_SCRIPT = os.path.join(REPO, "libexec", "bingo-pool")
SUPERVISE = os.path.join(REPO, "lab", "vlab", "supervise.py")
MEMORY_CHECK = os.path.join(REPO, "libexec", "vipd-memory-check")


class PoolNodes:
    def pool_env(self, node):
        k = self.nodes.index(node) + 1
        return dict(os.environ, BINGO_POOL_HOST_NS=self.ns(node), BINGO_POOL_NET=f"198.19.{k}",
                    BINGO_POOL_NS=f"{self.prefix}-{node}", BINGO_POOL_VETH="vbingo", BINGO_POOL_BRIDGE="bingo0")

    def pool_script(self, node, *args):
        out = subprocess.run([POOL_SCRIPT, *[str(a) for a in args]], env=self.pool_env(node), capture_output=True,
                             text=True, timeout=30)
        if out.returncode != 0:
            raise LabError(f"bingo-pool {' '.join(map(str, args))} on {node}: {out.stderr.strip()}")
        return out.stdout

    def pool_up(self, node, size):
        """SIZE members on NODE (namespaces recorded for the cleanup, IPv6 off
        as everywhere in the lab, then the script's `up`). Returns their names."""
        members = [f"{node}{i}" for i in range(1, size + 1)]
        for i, m in enumerate(members, 1):
            ns = f"{self.prefix}-{m}"
            sh("ip", "netns", "add", ns)
            self.registry.record_netns(ns)
            self.pool_of[m] = node
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            self.pool_script(node, "up", i)
        self.pools[node] = members
        return members

    def members(self, node):
        """NODE's pool members, or [NODE] itself when it runs a single bingo."""
        return self.pools.get(node, [node])

    def node_of(self, member):
        return self.pool_of.get(member, member)

    def member_addr(self, member):
        node = self.node_of(member)
        if node == member:
            return self.addr(node)
        return self.pool_script(node, "address", member[len(node):]).strip()

    def write_pool_nginx(self, node):
        """conf.d/bingo-pool.conf of NODE's nginx for the pool and bingo's port,
        checked (nginx -t) and loaded if nginx runs."""
        text = self.pool_script(node, "nginx", self.backend_port, len(self.pools[node]))
        path = os.path.join(self.nginx_prefix(node), "conf.d", "bingo-pool.conf")
        with open(path, "w") as f:
            f.write(text)
        out = subprocess.run(["ip", "netns", "exec", self.ns(node), *as_vipd(), *self.nginx_cmd(node, "-t", "-q")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise LabError(f"nginx -t with the pool on {node}: {out.stderr}")
        if self.registry.pid(f"nginx-{node}"):
            self.nsexec(node, *as_vipd(), *self.nginx_cmd(node, "-s", "reload"))

    # --- bingo under the stand-in for systemd (supervise.py) ------------------------------

    def supervisor_file(self, member, what):
        """supervise.pid (what a restart command signals), child.pid, events."""
        return os.path.join(self.dir, self.node_of(member), f"supervise-{member}", what)

    def start_supervised(self, member):
        """MEMBER's stand-in (start_bingo's argv, set before) under supervise.py
        as user vipd: restarted RestartSec (the shipped unit's) after it exits,
        at once on SIGHUP, as bingo@I.service is by systemd."""
        d = os.path.dirname(self.supervisor_file(member, "x"))
        os.makedirs(d, exist_ok=True)
        vipd = pwd.getpwnam("vipd")
        os.chown(d, vipd.pw_uid, vipd.pw_gid)
        return self.spawn(f"supervise-{member}", member,
                          [PYTHON, SUPERVISE, "--restart-sec", str(shipped_restart_sec()),
                           "--pidfile", self.supervisor_file(member, "supervise.pid"),
                           "--child-pidfile", self.supervisor_file(member, "child.pid"),
                           "--events", self.supervisor_file(member, "events"),
                           "--", *self.bingo_argv[member]], user="vipd")

    def supervised_restart_command(self, member):
        """The restart command of MEMBER's monitor check (systemctl restart bingo@I.service in production)."""
        return ["/bin/sh", "-c", f"kill -HUP $(cat {self.supervisor_file(member, 'supervise.pid')})"]

    def supervised_pid(self, member):
        """The PID of the stand-in the supervisor runs now, or None."""
        try:
            with open(self.supervisor_file(member, "child.pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists(f"/proc/{pid}") else None

    def supervisor_events(self, member):
        try:
            with open(self.supervisor_file(member, "events")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def member_checks_yaml(self, node, timing, memory_limit_mb=None):
        """vipd's `checks:` entries for NODE's pool, as roles/vipd ships them:
        per member bingo-I (role monitor, its /ping at its pool address) and,
        with MEMORY_LIMIT_MB, bingo-memory-I (the shipped memory check on the
        supervised PID instead of systemd's MemoryCurrent), each restarting
        that member through its supervisor. TIMING: (interval_ms, timeout_ms,
        rise, fall) of the /ping checks."""
        interval, timeout, rise, fall = timing
        out = ""
        for m in self.members(node):
            restart = json.dumps(self.supervised_restart_command(m))
            i = m[len(node):]
            out += f"""
  - name: bingo-{i}
    role: monitor
    http: {{url: "http://{self.member_addr(m)}:{self.backend_port}/ping", expect_status: 200, body_contains: "pong"}}
    interval: {interval}ms
    timeout: {timeout}ms
    rise: {rise}
    fall: {fall}
    restart: {{command: {restart}, backoff: 10s, max_backoff: 5m}}"""
            if memory_limit_mb:
                memory = [MEMORY_CHECK, "--pidfile", self.supervisor_file(m, "child.pid"),
                          "--limit-mb", str(memory_limit_mb)]
                out += f"""
  - name: bingo-memory-{i}
    role: monitor
    exec: {{command: {json.dumps(memory)}}}
    interval: 2s
    timeout: 1s
    rise: 1
    fall: 2
    restart: {{command: {restart}, backoff: 10s, max_backoff: 5m}}"""
        return out
