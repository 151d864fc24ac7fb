"""The lab's network: a switch namespace with a bridge, and one namespace per
node and client, each with eth0 on a veth whose other end is a port of the
bridge (named p<node>).

    <P>-a  eth0 198.18.0.1/24  --+
    <P>-b  eth0 198.18.0.2/24  --+-- veth -- <P>-sw: br0 (ports pa, pb, pc, ...)
    <P>-c  eth0 198.18.0.10/24 --+           (client)
    VIP 198.18.0.100/24 on the master's eth0.

With service=True every member also gets eth1 on a second bridge, br1 (ports
p<member>1), in 198.18.2.0/24 (SERVICE_ADDR): a service network apart from
the one the heartbeats use, for a VIP on eth1 (SERVICE_VIP) whose link can
lose carrier while the heartbeats still flow.

Addresses come from 198.18.0.0/15 only and exist only in these namespaces;
nothing is configured in the root namespace (the veths are created inside
the switch namespace), and IPv6 is off in them, so no link-local chatter
(RS, MLD, DAD) leaves them.
"""

import subprocess

from .util import LabError, sh

VIP = "198.18.0.100"
PREFIXLEN = 24
# Nodes run a daemon, clients only measure. A third node is "d" so that "c"
# stays the client whatever the number of nodes.
ADDR = {"a": "198.18.0.1", "b": "198.18.0.2", "d": "198.18.0.3", "e": "198.18.0.4", "c": "198.18.0.10"}
PRIORITY = {"a": 150, "b": 100, "d": 50, "e": 25}
# The service network (service=True): eth1 of every member.
SERVICE_VIP = "198.18.2.100"
SERVICE_ADDR = {m: a.replace("198.18.0.", "198.18.2.") for m, a in ADDR.items()}
# Each network: its bridge in the switch namespace and the member's addresses on it.
NETWORKS = {"eth0": ("br0", ADDR), "eth1": ("br1", SERVICE_ADDR)}


class Topology:
    def __init__(self, prefix, registry, nodes=("a", "b"), clients=("c",), service=False):
        for n in (*nodes, *clients):
            if n not in ADDR:
                raise LabError(f"no address for lab member {n!r} (known: {', '.join(ADDR)})")
        self.prefix = prefix
        self.registry = registry
        self.nodes = tuple(nodes)
        self.clients = tuple(clients)
        self.devices = ("eth0", "eth1") if service else ("eth0",)

    def ns(self, member):
        if member != "sw" and member not in self.nodes and member not in self.clients \
                and member not in getattr(self, "pool_of", {}):   # a bingo pool member (pool.py)
            raise LabError(f"no lab member {member!r}")
        return f"{self.prefix}-{member}"

    def addr(self, member):
        return ADDR[member]

    def create(self):
        existing = sh("ip", "netns", "list").split()
        for member in ("sw", *self.nodes, *self.clients):
            ns = self.ns(member)
            if ns in existing:
                raise LabError(f"namespace {ns} exists already")
            sh("ip", "netns", "add", ns)
            self.registry.record_netns(ns)
            sh("ip", "netns", "exec", ns, "sysctl", "-qw",
               "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sw = self.ns("sw")
        for dev in self.devices:
            bridge, addrs = NETWORKS[dev]
            sh("ip", "-n", sw, "link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
            sh("ip", "-n", sw, "link", "set", bridge, "up")
            for member in (*self.nodes, *self.clients):
                ns, port = self.ns(member), self.port(member, dev)
                sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", ns)
                sh("ip", "-n", sw, "link", "set", port, "master", bridge)
                sh("ip", "-n", sw, "link", "set", port, "up")
                sh("ip", "-n", ns, "addr", "add", f"{addrs[member]}/{PREFIXLEN}", "dev", dev)
                sh("ip", "-n", ns, "link", "set", dev, "up")

    @staticmethod
    def port(member, dev="eth0"):
        """The switch-side end of MEMBER's DEV: p<member> for eth0, p<member>1 for eth1."""
        return f"p{member}" if dev == "eth0" else f"p{member}{dev[3:]}"

    def nsexec(self, member, *argv, check=True, timeout=30, stdin=None):
        return sh("ip", "netns", "exec", self.ns(member), *argv, check=check, timeout=timeout, stdin=stdin)

    # --- links -----------------------------------------------------------------

    def link_down(self, member, dev="eth0"):
        """The member's switch port down: its DEV loses carrier, as when its cable is pulled."""
        sh("ip", "-n", self.ns("sw"), "link", "set", self.port(member, dev), "down")

    def link_up(self, member, dev="eth0"):
        sh("ip", "-n", self.ns("sw"), "link", "set", self.port(member, dev), "up")

    def link_down_async(self, member, dev="eth0"):
        """Starts taking the port down and returns the `ip` process (kill_hard waits for it)."""
        return subprocess.Popen(["ip", "-n", self.ns("sw"), "link", "set", self.port(member, dev), "down"])

    # --- observation -------------------------------------------------------------

    def addresses(self, member, dev="eth0"):
        """The IPv4 addresses on MEMBER's DEV (without prefix), one `ip` call."""
        text = subprocess.run(["ip", "-n", self.ns(member), "-4", "-o", "addr", "show", "dev", dev],
                              capture_output=True, text=True).stdout
        words = text.split()
        return {words[i + 1].split("/")[0] for i, w in enumerate(words[:-1]) if w == "inet"}

    def holders(self, address=VIP, dev="eth0"):
        """Nodes whose DEV holds ADDRESS, in node order."""
        return [n for n in self.nodes if address in self.addresses(n, dev)]

    def mac(self, member):
        text = sh("ip", "-n", self.ns(member), "-o", "link", "show", "eth0")
        words = text.split()
        return words[words.index("link/ether") + 1]

    def client_neigh(self, client="c", address=VIP):
        """The client's neighbour entry for ADDRESS: (mac, state), or None."""
        words = sh("ip", "-n", self.ns(client), "neigh", "show", address, "dev", "eth0").split()
        if not words:
            return None
        mac = words[words.index("lladdr") + 1] if "lladdr" in words else None
        return mac, words[-1]
