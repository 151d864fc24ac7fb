"""What happens before bingo listens: the root refusal and the ~30 s
initialization request to http://8.8.8.8/.

The stand-in never sends anything to 8.8.8.8. It asks the routing table the
question the kernel would answer for the real binary's connect(): with a
usable route the real request waits for its timeout (slow start); with a
blackhole, unreachable or prohibit route -- or no route at all, where
connect() fails at once with ENETUNREACH -- it fails within a few seconds.
An iptables REJECT, which also speeds up the real binary, is not visible
here (a known difference, see README.md).
"""

from __future__ import annotations

import os
import subprocess

ROOT_REFUSAL = "Didn't your mom teach you not to run anything incomprehensible from root?"
INIT_TARGET = "8.8.8.8"
_FAILING_ROUTE_TYPES = ("blackhole", "unreachable", "prohibit")


def running_as_root() -> bool:
    return os.geteuid() == 0 or os.getuid() == 0


def route_to_init_target(ip: str = "ip") -> str | None:
    """The first line of `ip route get 8.8.8.8`, or None when there is no
    usable route (the command fails for blackhole/unreachable/prohibit and
    for no route). Only reads the routing table over netlink."""
    try:
        out = subprocess.run([ip, "route", "get", INIT_TARGET], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    first = out.stdout.strip().splitlines()[0]
    return None if first.split()[0] in _FAILING_ROUTE_TYPES else first


def init_request_seconds(slow: float, fast: float) -> float:
    """How long the blocking initialization request takes here."""
    return slow if route_to_init_target() is not None else fast
