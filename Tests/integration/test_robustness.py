"""Forged, replayed and malformed datagrams are dropped and counted, never acted on."""
import hashlib
import os
import socket
import time

from vipdlab import wait_for


def send(datagram, source, target):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.sendto(datagram, target)


def key_id(path):
    """The key id of docs/protocol.md: the first 4 bytes of SHA-256 of the key."""
    return hashlib.sha256(open(path, "rb").read().rstrip(b"\r\n \t")).digest()[:4]


def header(kid, state=2, priority=254, vrid=42, node_id=b"n1", epoch=2**62, seq=1, echo=0):
    return (bytes([0x21, vrid, priority, state, 1, len(node_id), 0, 10])
            + epoch.to_bytes(8, "big") + seq.to_bytes(8, "big") + kid + echo.to_bytes(8, "big") + node_id)


def test_garbage_and_forgeries_are_dropped_and_counted(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    target = (a.address, cluster.port)
    kid = key_id(cluster.key)
    # A forged "priority 254 master" from the peer's own address, with a wrong tag.
    forged = header(kid) + os.urandom(32)
    for _ in range(20):
        send(forged, b.address, target)
        send(header(b"\xde\xad\xbe\xef") + os.urandom(32), b.address, target)  # a key this node lacks
        send(b"\x00\x01", b.address, target)  # truncated
        send(header(kid, vrid=43) + bytes(32), b.address, target)  # another VRID
        send(bytes([0x11]) + forged[1:], b.address, target)  # version 1
    time.sleep(0.3)
    status = a.status()
    dropped = status["counters"]["dropped"]
    print(dropped)
    assert dropped["bad_auth"] >= 20
    assert dropped["unknown_key"] >= 20
    assert dropped["truncated"] >= 20
    assert dropped["wrong_vrid"] >= 20
    assert dropped["malformed"] >= 20
    assert status["state"] == "master", "a forged higher-priority heartbeat must not demote the master"
    assert cluster.masters() == ["n0"]


def test_random_bytes_do_not_disturb_the_daemon(cluster_factory):
    cluster = cluster_factory([150, 100]).start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    for i in range(2000):
        send(os.urandom(int.from_bytes(os.urandom(1), "big")), b.address, (a.address, cluster.port))
        if i % 20 == 0:
            time.sleep(0.002)  # paced so the kernel's socket buffer, not vipd, is never the bottleneck
    time.sleep(0.3)
    assert a.proc.poll() is None
    assert cluster.masters() == ["n0"]
    assert sum(a.status()["counters"]["dropped"].values()) >= 1900


def test_second_daemon_with_the_same_config_refuses_to_start(cluster_factory):
    import subprocess
    from vipdlab import VIPD
    cluster = cluster_factory([150, 100]).start()
    a = cluster.nodes[0]
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    result = subprocess.run([VIPD, "--config", str(a.config)], capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "another vipd is running" in result.stderr
    time.sleep(0.3)
    assert a.status()["state"] == "master", "the running daemon is undisturbed"
