"""The bingo pool on the lab's nodes, made by the installation's own script
(libexec/bingo-pool, as bingo-pool-net@.service runs it): member I of node N
is the namespace <P>-N<I> (lab member "N<I>", e.g. "a2") on the bridge bingo0
inside N's namespace, at 198.19.K.(10+I) where K is N's position among the
lab's nodes (198.19.0.0/16 is inside the lab's 198.18.0.0/15). N's nginx
serves the pool on bingo's port from conf.d/bingo-pool.conf, the output of
`bingo-pool nginx PORT SIZE` (docs/architecture.md, "The bingo pool")."""

import os
import subprocess

from .util import LabError, sh
from .web import REPO, as_vipd

POOL_SCRIPT = os.path.join(REPO, "libexec", "bingo-pool")


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
