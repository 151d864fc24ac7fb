"""VRRPv3 peers for the lab: vipd's `protocol: vrrp3` instance and keepalived
speaking VRRPv3 in a node's namespace (Debian's 2.2.7, or another build), with
what the interop tests and the interop benchmark read back (its log, its PIDs,
who holds the VIP, RFC timing). Plain functions of a `Lab`."""

import os
import time

VIP = "198.18.0.100"
INTERVAL_MS = 100


def election(priority, multicast, vrrp3=None):
    """VRRP3: the vrrp3 mapping (flow style); default unauthenticated."""
    vrrp3 = vrrp3 or f"{{multicast: {str(multicast).lower()}, unauthenticated: true}}"
    return f"""instances:
  - name: VI_1
    vrid: 51
    priority: {priority}
    protocol: vrrp3
    vrrp3: {vrrp3}
    timing: {{advert_interval: {INTERVAL_MS}ms}}
    vips:
      - address: {VIP}/24
"""


def start_keepalived(lab, node, priority, multicast, advert_ms=INTERVAL_MS, binary=None, extra=""):
    """keepalived in NODE's namespace, VRRPv3, one instance VI_1; returns its log path.
    BINARY: another keepalived than Debian's, built VRRP-only (so without -P);
    EXTRA: more lines for the instance."""
    if binary is None:
        from vlab.util import need_packages
        need_packages("keepalived")  # never skipped: the peer is the point of the test
    d = os.path.join(lab.dir, f"ka-{node}")
    os.makedirs(d, exist_ok=True)
    others = "".join(f"        {lab.addr(n)}\n" for n in lab.nodes if n != node)
    unicast = "" if multicast else f"    unicast_src_ip {lab.addr(node)}\n    unicast_peer {{\n{others}    }}\n"
    with open(f"{d}/keepalived.conf", "w") as f:
        f.write(f"""global_defs {{
    router_id node-{node}
    vrrp_version 3
    vrrp_garp_master_delay 0
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int {advert_ms / 1000:g}
{unicast}{extra}    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
}}
""")
    for name in ("k.pid", "v.pid"):
        if os.path.exists(f"{d}/{name}"):
            os.unlink(f"{d}/{name}")
    lab.spawn(f"ka-{node}", node, [binary or "keepalived", "-n", *([] if binary else ["-P"]), "-R", "-l", "-D", "-f", f"{d}/keepalived.conf",
                                   "-p", f"{d}/k.pid", "-r", f"{d}/v.pid"])
    lab.wait_for(lambda: "Entering BACKUP STATE" in ka_log(lab, node), 5, what=f"keepalived up on {node}")


def ka_log(lab, node):
    try:
        with open(os.path.join(lab.dir, f"ka-{node}.log")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def ka_pids(lab, node):
    pids = []
    for name in ("v.pid", "k.pid"):
        path = os.path.join(lab.dir, f"ka-{node}", name)
        if os.path.exists(path):
            pids.append(int(open(path).read().strip()))
    return pids


def holds(lab, node):
    return node in lab.holders(VIP)


def diag(lab):
    """The end of every log, for an assertion message."""
    return (f"holders {lab.holders(VIP)}\n--- vipd a\n" + "\n".join(lab.log("a").splitlines()[-15:])
            + "\n--- vipd b\n" + "\n".join(lab.log("b").splitlines()[-15:])
            + "".join(f"\n--- keepalived {n}\n" + "\n".join(ka_log(lab, n).splitlines()[-12:]) for n in ("a", "b")))


def master_down_ms(priority, interval_ms=INTERVAL_MS):
    return 3 * interval_ms + (256 - priority) * interval_ms / 256



def takeover_ms(lab, node, since):
    lab.wait_for(lambda: holds(lab, node), 5, interval=0.005, what=f"{node} holds the VIP")
    return 1000 * (time.time() - since)
