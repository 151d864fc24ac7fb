"""auth_hmac (draft-cassen-vrrp-auth-hmac) between vipd and keepalived 2.4.3
in the lab: one key file both read, each daemon's signed instance, and the
three attacks the tests and `lab/bench_interop.py` send with a raw socket
(a replayed capture, a forgery with the wrong key, an unsigned advert).
Plain functions of a `Lab`, as vrrp3.py."""

import os
import sys

from . import vrrp3

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def key_file(lab):
    """The shared key (vipd's `hex:` form, which keepalived's `file:` reads too)."""
    path = os.path.join(lab.dir, "vrrp51.key")
    with open(path, "w") as f:
        f.write(f"hex:{KEY_HEX}\n")
    os.chmod(path, 0o600)
    lab.hmac_key = path
    return path


def election(lab, priority):
    return vrrp3.election(priority, False, vrrp3="{multicast: false, auth_hmac: "
                          f"{{key_file: {lab.hmac_key}, key_id: 1, time_window: 5s, mode: enforce}}}}")


def start_keepalived(lab, binary, node, priority):
    """keepalived 2.4.3 in NODE's namespace, unicast, auth_hmac with vipd's key
    file; raises if keepalived complained about its auth_hmac block."""
    vrrp3.start_keepalived(lab, node, priority, False, binary=binary, extra=f"""    auth_hmac {{
        key 1 file:{lab.hmac_key}
        active_key 1
        anti_replay time
        time_window 5
        mode enforce
    }}
""")
    errors = config_errors(lab, node)
    if errors:
        raise RuntimeError(f"keepalived on {node} refused its auth_hmac block:\n{errors}")


def config_errors(lab, node):
    return "\n".join(line for line in vrrp3.ka_log(lab, node).splitlines() if "auth_hmac" in line)


def raw(lab, node, *args):
    """lab/vrrp_raw.py in NODE's namespace; its output."""
    return lab.nsexec(node, sys.executable, os.path.join(LAB_DIR, "vrrp_raw.py"), *args).strip()


def attacks(lab, priority, captured):
    """The replayed capture, a forged advert (wrong key) and an unsigned one,
    all claiming to come from A, to B, as hex."""
    if LAB_DIR not in sys.path:
        sys.path.insert(0, LAB_DIR)
    import vrrp_raw
    a, b = lab.addr("a"), lab.addr("b")
    forged = vrrp_raw.advert(a, b, 51, priority, [vrrp3.VIP], key=b"not the key, but 32 bytes long!!")
    unsigned = vrrp_raw.advert(a, b, 51, priority, [vrrp3.VIP])
    return [captured, forged.hex(), unsigned.hex()]


# keepalived's log lines for the three refusals (keepalived 2.4.3, vrrp.c).
KEEPALIVED_REFUSALS = ("replayed authentication trailer from {a}", "invalid authentication HMAC from {a}",
                       "missing authentication trailer from {a}")
# vipd's drop counters for them.
VIPD_DROPS = ("replay", "bad_auth", "hmac_missing")
