"""Restarts against captured heartbeats and epochs that go back, in the
namespace lab (issue 18, items 2 and 3).

1. A is the master; its heartbeats to B are captured in B's namespace for
   5 s. A dies hard (link down + SIGKILL), B takes the VIP, B is restarted
   (its memory of A is gone), and the capture is sent to B from A's address
   at its recorded pace. Before heartbeats echoed the receiver's epoch, B
   gave up the VIP for the whole recording; now it must stay master, and
   count the capture as `unverified`.
2. A restarts with an epoch lower than the one B knows (as after a clock
   stepped back with the boot counter lost: a first start from a stored epoch
   in 2099, then a start without the state file). Before, B dropped every
   heartbeat of the new A as `replay` and both held the VIP; now A is master
   again, B backup, one holder.
About 40 s.
"""

import json
import os
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import running_lab
from vlab import PREFIXLEN, VIP

PORT = 5798
A, B = "198.18.0.1", "198.18.0.2"
FUTURE_EPOCH = 4_070_908_800_000  # 2099-01-01 in ms


@pytest.fixture(scope="module")
def flab(request):
    with running_lab(request, interval_ms=100) as lab:
        lab.wait_master("a", 10)
        yield lab


def udp_payloads(pcap):
    """(seconds, payload) of each UDP datagram of an Ethernet pcap file."""
    with open(pcap, "rb") as f:
        data = f.read()
    out, offset = [], 24
    while offset + 16 <= len(data):
        sec, usec, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + length]
        offset += 16 + length
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        out.append((sec + usec / 1e6, ip[header + 8:]))
    return out


REPLAY = """
import json, socket, sys, time
packets = json.load(open(sys.argv[1]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 0))
start, first = time.monotonic(), packets[0][0]
for at, payload in packets:
    delay = (at - first) - (time.monotonic() - start)
    if delay > 0:
        time.sleep(delay)
    s.sendto(bytes.fromhex(payload), (sys.argv[3], int(sys.argv[4])))
"""


def test_a_restarted_master_ignores_a_capture_of_its_dead_peer(flab):
    work = tempfile.mkdtemp(prefix="vipd-capture.", dir=flab.dir)
    pcap = os.path.join(work, "a-to-b.pcap")
    capture = subprocess.run(
        ["ip", "netns", "exec", flab.ns("b"), "timeout", "5", "tcpdump", "-i", "eth0", "-U", "-w", pcap,
         f"udp and src host {A} and dst port {PORT}"], capture_output=True, text=True)
    assert capture.returncode in (0, 124), capture.stderr
    packets = udp_payloads(pcap)
    assert len(packets) > 30, f"captured only {len(packets)} heartbeats"
    flab.kill_hard("a")
    # A is dead: a SIGKILLed vipd leaves its VIP configured, a dead machine would not.
    flab.nsexec("a", "ip", "addr", "del", f"{VIP}/{PREFIXLEN}", "dev", "eth0")
    flab.wait_master("b", 5)
    flab.stop_vipd("b")
    flab.start_vipd("b")
    flab.wait_master("b", 5)
    # The attacker sends the capture from A's address (A's link is up again, its vipd dead).
    flab.link_up("a")
    replay_file = os.path.join(work, "replay.json")
    with open(replay_file, "w") as f:
        json.dump([(at, payload.hex()) for at, payload in packets], f)
    replay = subprocess.Popen(["ip", "netns", "exec", flab.ns("a"), "python3", "-c", REPLAY,
                               replay_file, A, B, str(PORT)])
    seen = set()
    try:
        while replay.poll() is None:
            seen.add(flab.state("b"))
            time.sleep(0.05)
    finally:
        if replay.poll() is None:
            replay.kill()
        replay.wait()
    seen.add(flab.state("b"))
    assert replay.returncode == 0
    assert seen == {"master"}, f"the replay moved the restarted master: states {seen}"
    assert flab.holders() == ["b"]
    dropped = flab.status("b")["counters"]["dropped"]
    assert dropped["unverified"] >= 0.9 * len(packets), dropped
    # Put A back for the next test: a master again, B backup.
    flab.start_vipd("a")
    flab.wait_master("a", 10)


def test_a_node_whose_epoch_went_back_is_heard(flab):
    state = os.path.join(flab.dir, "state-a", "epoch")
    flab.stop_vipd("a")
    flab.wait_master("b", 5)
    with open(state, "w") as f:
        f.write(f"{FUTURE_EPOCH}\n")
    flab.start_vipd("a")
    flab.wait_master("a", 10)
    assert int(open(state).read()) == FUTURE_EPOCH + 1
    # The state is lost and the epoch goes back by 73 years.
    flab.stop_vipd("a")
    flab.wait_master("b", 5)
    os.unlink(state)
    replays_before = flab.status("b")["counters"]["dropped"]["replay"]
    flab.start_vipd("a")
    assert int(open(state).read()) < FUTURE_EPOCH
    flab.wait_master("a", 10)
    seen = set()
    end = time.monotonic() + 3
    while time.monotonic() < end:
        seen.add((flab.state("a"), flab.state("b"), tuple(flab.holders())))
        time.sleep(0.05)
    assert seen == {("master", "backup", ("a",))}, f"after the epoch went back: {seen}"
    assert flab.status("b")["counters"]["dropped"]["replay"] == replays_before
