"""The bingo pool in the namespace lab (docs/architecture.md, "The bingo pool"):
two members per node made by libexec/bingo-pool, each stand-in under the
lab's supervisor (systemd's bingo@I.service), the pool's nginx server on
bingo's port, and vipd with the node's bingo check through the pool (role
backend) and one monitor check per member that restarts it.

What must hold: every member answers at its own address and the pool spreads
requests over them; a sick member (POST /operation with the sick nibble, 500
on everything) is restarted by its own monitor check while the node's backend
is never marked down and requests through the VIP keep succeeding; a member
that is killed is restarted by its supervisor and the pool routes around it.

Needs root; python3 -m pytest -q Tests/lab/test_bingo_pool.py
"""

import json
import os
import signal
import threading
import time

import pytest

from conftest import running_lab

POOL = 2
PORT = 30164
SICK = 5 << 32        # bingo.md: (value & 0xF00000000) >> 32 == 5 -> 500 on everything
CHECK = (250, 200, 2, 2)   # interval_ms, timeout_ms, rise, fall of the member checks


@pytest.fixture(scope="module")
def lab(request):
    with running_lab(request, start=False, check_interval_ms=CHECK[0], rise=CHECK[2], fall=CHECK[3],
                     debounce_ms=100, backend_port=PORT) as lab:
        for n in lab.nodes:
            lab.nsexec(n, "ip", "route", "replace", "blackhole", "8.8.8.8/32")
            for m in lab.pool_up(n, POOL):
                lab.start_bingo(m)                  # argv and log directory; then under the supervisor
                lab.stop(f"bingo-{m}")
                lab.start_supervised(m)
            lab.start_front(n)
            lab.write_pool_nginx(n)
        for m in [m for n in lab.nodes for m in lab.members(n)]:
            lab.wait_for(lambda: serving(lab, m), 30, f"member {m}")
        for n in lab.nodes:
            lab.extra_checks = lab.member_checks_yaml(n, CHECK)
            lab.start_vipd(n)
        lab.wait_for(lambda: lab.holders() == ["a"] and not lab.marked_down("a") and not lab.marked_down("b"),
                     30, "a master, no backend down")
        yield lab


def serving(lab, member):
    pid = lab.supervised_pid(member)
    return bool(pid) and lab.curl(member, f"http://127.0.0.1:{PORT}/ping", timeout=1) == (200, "pong")


def requests_seen(lab, member):
    return sum(json.loads(lab.bingo_control(member, "state"))["requests_by_endpoint"].values())


def test_members_answer_at_their_addresses_and_share_the_load(lab):
    for n in lab.nodes:
        for m in lab.members(n):
            assert lab.curl(n, f"http://{lab.member_addr(m)}:{PORT}/ping", timeout=2) == (200, "pong"), m
    before = {m: requests_seen(lab, m) for m in lab.members("a")}
    for _ in range(40):
        assert lab.curl("c", f"http://{lab.addr('a')}:{PORT}/ping", timeout=2) == (200, "pong")
    got = {m: requests_seen(lab, m) - before[m] for m in lab.members("a")}
    assert all(v > 0 for v in got.values()), f"the pool sent every request to one member: {got}"
    status = lab.status("a")
    roles = {c["name"]: c["role"] for c in status["checks"]}
    assert roles.get("bingo") == "backend" and all(roles.get(f"bingo-{i}") == "monitor" for i in (1, 2)), roles


class Watch:
    """Polls, until stopped: whether node a is marked down in b's upstream, and
    GET /ping through the VIP (failures counted)."""

    def __init__(self, lab):
        self.lab, self.marked, self.failed, self.total = lab, False, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.marked |= "node-a" in self.lab.marked_down("b")
            self.total += 1
            self.failed += self.lab.curl("c", "http://198.18.0.100/ping", timeout=2)[0] != 200
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def test_a_sick_member_is_restarted_by_its_own_check_and_the_node_stays_in(lab):
    victim = "a1"
    old = lab.supervised_pid(victim)
    with Watch(lab) as w:
        status, _ = lab.curl("a", f"http://{lab.member_addr(victim)}:{PORT}/operation", method="POST",
                             extra=("-H", "Content-Type: application/json", "-d", json.dumps({"operation": SICK})))
        assert lab.curl(victim, f"http://127.0.0.1:{PORT}/ping")[0] == 500, "the poison did not make it sick"
        t0 = time.monotonic()
        lab.wait_for(lambda: lab.supervised_pid(victim) not in (None, old) and serving(lab, victim), 20,
                     "the sick member restarted and serving")
        took = time.monotonic() - t0
        time.sleep(1)
    events = [e["event"] for e in lab.supervisor_events(victim)]
    assert "hup" in events, f"restarted, but not by its check (supervisor events {events})"
    check = next(c for c in lab.status("a")["checks"] if c["name"] == "bingo-1")
    assert (check.get("restarts") or 0) >= 1, check
    assert not w.marked, "one sick member marked the whole node's backend down"
    assert w.failed <= 1, f"{w.failed} of {w.total} requests through the VIP failed while a member was sick"
    print(f"sick member back in {took:.2f} s; {w.failed}/{w.total} probes failed")


def test_a_killed_member_is_restarted_and_routed_around(lab):
    victim = "a2"
    old = lab.supervised_pid(victim)
    with Watch(lab) as w:
        os.kill(old, signal.SIGKILL)
        lab.wait_for(lambda: lab.supervised_pid(victim) not in (None, old) and serving(lab, victim), 20,
                     "the killed member restarted")
        time.sleep(1)
    assert not w.marked
    assert w.failed == 0, f"{w.failed} of {w.total} requests through the VIP failed while a member was dead"
