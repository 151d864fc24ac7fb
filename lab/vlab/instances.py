"""Virtual routers ("instances") described once for both daemons of the lab:
vipd's `instances:` list (`instances_yaml`, for start_vipd's election=) and
keepalived's vrrp_instance blocks (keepalived.py) are rendered from the same
Instance objects, so a scenario runs both daemons on the same routers.

    web, db = crossed()                    # active-active: web on A, db on B
    lab.start_vipd("a", election=instances_yaml([web, db], "a"))
    lab.start_keepalived("a", instances=[web, db])
"""

from dataclasses import dataclass

from .topology import PREFIXLEN, PRIORITY, VIP
from .util import LabError


@dataclass(frozen=True)
class Instance:
    """One virtual router: NAME (vipd's instance name and keepalived's
    vrrp_instance name), VRID, the VIP as "ADDRESS/PREFIX" on DEVICE, the
    priority of each node (PRIORITIES, pairs; a node not listed has the lab's
    PRIORITY), and TRACK, the interfaces whose carrier it needs (vipd
    `track_interfaces`, keepalived `track_interface`)."""
    name: str
    vrid: int
    vip: str = f"{VIP}/{PREFIXLEN}"
    device: str = "eth0"
    priorities: tuple = ()
    track: tuple = ()

    @property
    def address(self):
        return self.vip.split("/")[0]

    def priority(self, node):
        return dict(self.priorities).get(node, PRIORITY[node])


def crossed():
    """Two instances, each master on one node: web (VRID 51, 198.18.0.100) with
    A at 150 and B at 100, db (VRID 52, 198.18.0.101) the other way round."""
    return [Instance("web", 51, f"{VIP}/{PREFIXLEN}", priorities=(("a", 150), ("b", 100))),
            Instance("db", 52, f"198.18.0.101/{PREFIXLEN}", priorities=(("a", 100), ("b", 150)))]


def numbered(count):
    """COUNT instances vi1..viCOUNT with VRIDs 51.. and VIPs 198.18.1.1.. /24, the
    lab's priorities (A master of all of them)."""
    if not 1 <= count <= 200:
        raise LabError(f"numbered: 1 to 200 instances (VRIDs 51-250, VIPs 198.18.1.1-200), not {count}")
    return [Instance(f"vi{k}", 50 + k, f"198.18.1.{k}/{PREFIXLEN}") for k in range(1, count + 1)]


def instances_yaml(instances, node):
    """vipd's `instances:` list for NODE (what start_vipd's election= takes)."""
    lines = ["instances:"]
    for i in instances:
        dev = f", interface: {i.device}" if i.device != "eth0" else ""
        lines += [f"  - name: {i.name}", f"    vrid: {i.vrid}", f"    priority: {i.priority(node)}",
                  f"    vips: [{{address: {i.vip}{dev}}}]"]
        if i.track:
            lines.append(f"    track_interfaces: [{', '.join(i.track)}]")
    return "\n".join(lines) + "\n"
