"""Network faults made with nftables inside the lab's namespaces (this kernel
has no sch_netem): one-way cuts of heartbeats, a node deaf and mute to
heartbeats, a partition in the switch, random loss, a link's lost carrier at a
chosen moment (pull_cable), and CPU starvation.
Heartbeats are vipd's UDP port 5798, or IP protocol 112 (VRRP) with
proto="vrrp" for keepalived. Everything else (ARP, ICMP, HTTP) keeps flowing."""

import time

from .topology import PREFIXLEN, VIP
from .util import LabError, need_tools, wait_until


def _match(proto):
    return "meta l4proto 112" if proto == "vrrp" else "udp dport 5798"


class Faults:
    def _nft(self, member, ruleset):
        need_tools("nft")
        self.nsexec(member, "nft", "-f", "-", stdin=ruleset)

    def _nft_delete(self, member, family, table):
        self.nsexec(member, "nft", "delete", "table", family, table, check=False)

    def cut(self, src, dst, on=True, where="egress"):
        """A ONE-WAY cut of SRC's heartbeats to DST: a netdev egress filter on SRC's
        eth0 (default) or an ingress filter on DST's. Table netdev vipdcut, with a
        counter (cut_dropped)."""
        if not on:
            self._nft_delete(src, "netdev", "vipdcut")
            self._nft_delete(dst, "netdev", "vipdcut")
            return
        if where == "egress":
            member, match = src, f"ip daddr {self.addr(dst)}"
        elif where == "ingress":
            member, match = dst, f"ip saddr {self.addr(src)}"
        else:
            raise LabError(f"cut: egress or ingress, not {where}")
        self._nft(member, f"""table netdev vipdcut {{
    chain cut {{ type filter hook {where} device "eth0" priority 0; {match} udp dport 5798 counter drop; }}
}}""")

    def cut_dropped(self, src, dst, where="egress"):
        member = src if where == "egress" else dst
        text = self.nsexec(member, "nft", "list", "table", "netdev", "vipdcut", check=False)
        words = text.split()
        return int(words[words.index("packets") + 1]) if "packets" in words else 0

    def drop_heartbeats(self, node, on=True, proto="udp"):
        """Heartbeats to and from NODE dropped in NODE's own namespace (table inet vipdlab)."""
        self._nft_delete(node, "inet", "vipdlab")
        if on:
            m = _match(proto)
            self._nft(node, f"""table inet vipdlab {{
    chain input {{ type filter hook input priority 0; {m} drop; }}
    chain output {{ type filter hook output priority 0; {m} drop; }}
}}""")

    def partition(self, on=True, proto="udp"):
        """Heartbeats between all nodes dropped in the switch (a bridge-family filter on
        br0's forward path): the nodes see no local error, as when the network loses them."""
        self._nft_delete("sw", "bridge", "vipdlab")
        if on:
            self._nft("sw", f"""table bridge vipdlab {{
    chain forward {{ type filter hook forward priority 0; {_match(proto)} drop; }}
}}""")

    def loss(self, node, percent, on=True, proto="udp"):
        """PERCENT random loss of heartbeats on NODE's own eth0, both ways (table netdev vipdloss)."""
        self._nft_delete(node, "netdev", "vipdloss")
        if on and percent > 0:
            m = _match(proto)
            self._nft(node, f"""table netdev vipdloss {{
    chain in {{ type filter hook ingress device "eth0" priority 0; {m} numgen random mod 100 < {int(percent)} counter drop; }}
    chain out {{ type filter hook egress device "eth0" priority 0; {m} numgen random mod 100 < {int(percent)} counter drop; }}
}}""")

    def reboot_link(self, node, address=f"{VIP}/{PREFIXLEN}"):
        """NODE "rebooted" after kill_hard, before its daemon starts again: the VIP
        its dead daemon left configured removed (ADDRESS: one "ADDR/PREFIX" or a
        list of them), its switch port up, its neighbour table emptied. A real
        reboot empties it; here a reply that was in flight at the kill can leave an
        INCOMPLETE entry for the client, made while the carrier was down, that
        solicits only once a second, so the node's first answers after it takes
        the VIP again would wait up to a second for it (docs/benchmarks.md)."""
        for a in [address] if isinstance(address, str) else address:
            self.nsexec(node, "ip", "addr", "del", a, "dev", "eth0", check=False)
        self.link_up(node)
        self.nsexec(node, "ip", "neigh", "flush", "dev", "eth0", check=False)

    def pull_cable(self, node, dev="eth0", at_us=None):
        """NODE's DEV loses carrier (its switch port down) at AT_US (util.wait_until;
        None: at once), its daemon left running. Returns (t_start, t_down), epoch s."""
        wait_until(at_us)
        t0 = time.time()
        self.link_down(node, dev)
        t1 = time.time()
        self.mark(node, f"carrier of {dev} on {node} lost at {t0:.6f}")
        return t0, t1

    def start_stress(self, seconds, workers=None):
        """stress-ng CPU hogs on every core, in the client namespace (no network use),
        bounded by --timeout. Returns the stress-ng parent's PID (SIGTERM stops its workers)."""
        import os
        from .util import need_packages
        need_packages("stress-ng")
        workers = workers or os.cpu_count()
        return self.spawn("stress", self.clients[0], ["stress-ng", "--cpu", str(workers), "--cpu-load", "100",
                                                   "--timeout", f"{seconds}s", "--metrics-brief"])

    def stop_stress(self):
        self.registry.stop("stress", timeout=10)
