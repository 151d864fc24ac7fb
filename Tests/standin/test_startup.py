"""The ~30 s start-up unless the route to 8.8.8.8 fails: decided from the
routing table of a namespace made here, where a default route points at a
198.18.x neighbour and a blackhole/unreachable/prohibit route is added and
removed. Nothing is ever sent to 8.8.8.8 (the stand-in only asks
`ip route get`); tcpdump-free proof: the veth's peer counts no packets."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

SLOW, FAST = 3.0, 0.3


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns():
    name = f"bst{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    try:
        # No IPv6 on the veth: its router solicitations would count as sent
        # packets and hide what the check below looks for.
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], check=True)
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        for dev in ("v0", "v1"):
            ip("-n", name, "link", "set", dev, "up")
        ip("-n", name, "addr", "add", "198.18.251.1/24", "dev", "v0")
        ip("-n", name, "route", "add", "default", "via", "198.18.251.2")
        yield name
    finally:
        ip("netns", "del", name)


def tx_packets(ns: str, dev: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/tx_packets"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def start_time(spawn, netns, pg_root) -> float:
    b = spawn("--init-timeout", str(SLOW), "--init-fail-fast", str(FAST), "--no-db",
              root=pg_root, netns=netns, wait=False)
    b.wait_listening(timeout=SLOW + 10)
    took = time.monotonic() - b.started_at
    b.stop()
    return took


def test_slow_with_a_route_fast_without(netns, spawn, make_root):
    root = make_root()
    before = tx_packets(netns, "v0")
    assert start_time(spawn, netns, root) >= SLOW
    for kind in ("blackhole", "unreachable", "prohibit"):
        ip("-n", netns, "route", "add", kind, "8.8.8.8/32")
        took = start_time(spawn, netns, root)
        assert took < SLOW, (kind, took)
        ip("-n", netns, "route", "del", kind, "8.8.8.8/32")
    assert start_time(spawn, netns, root) >= SLOW          # the route is back: slow again
    # Nothing left the namespace towards the gateway (ARP for it would count).
    assert tx_packets(netns, "v0") == before
