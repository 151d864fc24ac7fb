"""Planned failover with requests in progress on the old master (issue 18 item 8).

`make bench` lost 1 request at 100 ms and 1 at 20 ms in its planned failovers.
Captured in the lab, the losses were of two kinds:

1. **Timeout.** The old master had received the request; before its answer
   left, the new master's heartbeat arrived and the old master removed the
   VIP at once. The answer then had no source address and never left; the
   client gave up after 2 s. vipd's own doing: fixed, the old master keeps
   the VIPs for Election.drainTime (250 ms) after yielding.
2. **Reset, inherent.** The client had finished the TCP handshake with the old
   master, then the new master's gratuitous ARP moved the client's neighbour
   entry, and the request itself went to the new master, which knows nothing
   of the connection and resets it (or, holding the same port pair in
   TIME_WAIT from an earlier connection, answers with bare ACKs until the
   client times out). Any failover that moves an address by
   gratuitous ARP, without syncing connections, has this window (from the
   client's SYN to its request); docs/benchmarks.md.

This test makes case 1 certain instead of rare: the nodes' HTTP servers answer
after 40 ms (lab/slowhttp.py), the client sends a new-connection request every
5 ms (lab/httpprobe.py), so about eight requests are in progress on the old
master at every move. Four planned failovers (A->B->A->B->A, 2.3 s apart), a capture on the
client; every failed request must be of kind 2 (shown by the capture: the SYN
answered by one node's MAC, the request sent to the other's), and some
requests must have been answered by the old master after the client had
moved (the drain at work). Before the drain each failover lost about eight
requests as timeouts. About 20 s.
"""

import json
import os
import re
import subprocess
import time

import pytest

from conftest import running_lab

VIP = "198.18.0.100"
DELAY_MS = 40
FAILOVERS = 4
# Longer than the probe's 2 s timeout: an answer stuck on the old holder must
# not be rescued by a retransmission after the VIP comes back to it.
SPACING_S = 2.3


@pytest.fixture(scope="module")
def slowlab(request):
    with running_lab(request, interval_ms=100) as lab:
        lab.start_http("a", delay_ms=DELAY_MS)
        lab.start_http("b", delay_ms=DELAY_MS)
        yield lab


def capture(pcap):
    """Client capture -> (per client port: [(t, direction, peer mac, flags, length)], [(t, mac) of GARPs])."""
    text = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt", "-e"], capture_output=True, text=True).stdout
    conns, garps = {}, []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        t, src, dst = float(f[0]), f[1], f[3].rstrip(",")
        if f"Request who-has {VIP} tell {VIP}" in line:
            garps.append((t, src))
            continue
        m = re.search(r"198\.18\.0\.10\.(\d+) > 198\.18\.0\.100\.80: Flags \[([^\]]*)\].*length (\d+)", line)
        if m:
            conns.setdefault(int(m.group(1)), []).append((t, "out", dst, m.group(2), int(m.group(3))))
            continue
        m = re.search(r"198\.18\.0\.100\.80 > 198\.18\.0\.10\.(\d+): Flags \[([^\]]*)\].*length (\d+)", line)
        if m:
            conns.setdefault(int(m.group(1)), []).append((t, "in", src, m.group(2), int(m.group(3))))
    return conns, garps


def connection(conns, port, start):
    """The packets of the connection from `port` whose SYN left at or after `start` (ports are reused)."""
    pk = [p for p in conns.get(port, []) if p[0] >= start - 0.001]
    syns = [i for i, p in enumerate(pk) if p[1] == "out" and p[3] == "S"]
    if not syns:
        return []
    end = next((i for i in syns[1:]), len(pk))
    return pk[syns[0]:end]


def inherent(pk):
    """Kind 2: the handshake answered by one MAC, the request (the first data segment out) sent to the other.
    That node resets it, or, if it still has the same port pair in TIME_WAIT from an earlier connection
    (ports are reused), answers with bare ACKs until the client times out."""
    synack = next((p for p in pk if p[1] == "in" and "S" in p[3]), None)
    request = next((p for p in pk if p[1] == "out" and p[4] > 0), None)
    return bool(synack and request and request[2] != synack[2])


def test_planned_failover_answers_requests_in_progress(slowlab):
    lab = slowlab
    lab.wait_for(lambda: lab.holders() == ["a"] and lab.state("a") == "master" and lab.state("b") == "backup",
                 15, what="baseline: A sole master, B backup")
    macs = {n: lab.mac(n) for n in ("a", "b")}
    pcap = os.path.join(lab.dir, "c-http.pcap")
    lab.spawn("tcpdump-http", "c", ["tcpdump", "-i", "eth0", "-n", "-U", "--immediate-mode", "-Z", "root",
                                    "-s", "128", "-w", pcap, "arp or tcp port 80"])
    lab.wait_for(lambda: "listening on" in lab.log("tcpdump-http"), 10, what="tcpdump to listen")
    stop, out, ready = (os.path.join(lab.dir, f"http.{x}") for x in ("stop", "json", "ready"))
    lab.python("c", "httpprobe.py", "--interval", "0.005", "--timeout", "2", "--stop-file", stop, "--out", out,
               "--ready-file", ready, "--max-duration", "120", VIP, name="http")
    lab.wait_for(lambda: os.path.exists(ready), 15, what="the probe's first answer")
    time.sleep(0.5)
    moves = []  # (time of the vipctl call, old holder, new holder)
    holder = "a"
    for _ in range(FAILOVERS):
        new = "b" if holder == "a" else "a"
        t = time.time()
        lab.vipctl(holder, "failover", "--to", f"node-{new}")
        lab.wait_for(lambda: lab.holders() == [new] and lab.state(new) == "master", 5, interval=0.02,
                     what=f"{new} sole holder")
        moves.append((t, holder, new))
        holder = new
        time.sleep(SPACING_S)
    open(stop, "w").close()
    lab.wait_for(lambda: os.path.exists(out), 15, what="probe result")
    lab.stop("http", timeout=5)
    time.sleep(0.2)
    lab.stop("tcpdump-http", timeout=5)
    with open(out) as f:
        result = json.load(f)
    conns, garps = capture(pcap)

    # Requests in progress on the old holder when the client moved (handshake with it before the new
    # holder's first gratuitous ARP of that move) that it answered afterwards: the drain at work.
    drained = []
    for t, old, new in moves:
        first_garp = min((g for g, mac in garps if mac == macs[new] and g >= t), default=None)
        assert first_garp is not None, f"no gratuitous ARP from {new} after the move at {t}"
        n = 0
        for pk in conns.values():
            for i, p in enumerate(pk):
                if p[1] == "in" and "S" in p[3] and p[2] == macs[old] and t - 0.1 < p[0] < first_garp:
                    rest = pk[i + 1:]
                    end = next((k for k, q in enumerate(rest) if q[1] == "out" and q[3] == "S"), len(rest))
                    # Within a second (the drain is 250 ms), not a retransmission once the VIP came back.
                    n += any(q[1] == "in" and q[2] == macs[old] and q[4] > 0 and first_garp < q[0] < first_garp + 1
                             for q in rest[:end])
        drained.append(n)
    kinds = []
    for failure in result["failures"]:
        pk = connection(conns, failure["port"], failure["at"])
        kinds.append("inherent" if failure["reason"] in ("ECONNRESET", "timeout") and inherent(pk)
                     else f"{failure['reason']}: " + "; ".join(
                         f"+{(p[0] - failure['at']) * 1000:.1f} ms {p[1]} {'A' if p[2] == macs['a'] else 'B'} [{p[3]}]"
                         for p in pk))
    print(f"\nplanned failovers with {DELAY_MS} ms answers: {result['sent']} requests, {result['failed']} failed "
          f"({kinds.count('inherent')} of the inherent kind), complete answers before a reset "
          f"{result['complete_then_error']}; answers by the old holder after the move: {drained}")
    assert all(k == "inherent" for k in kinds), \
        f"failed requests that are not the inherent case: {[k for k in kinds if k != 'inherent']}"
    assert all(n > 0 for n in drained), f"the old holder answered nothing after a move: {drained}"
    assert result["tail_gap_ms"] is not None and result["tail_gap_ms"] < 200, result
