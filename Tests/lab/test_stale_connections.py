"""Connections a VIP move leaves dead are ended (VIPHolder.endStaleConnections).

The case the acceptance's db-switchover found: bingo on node B had a query in
flight to the database address, held by A. vipd moved the address to B; A's
answer (and A's reset, when its PostgreSQL was stopped) then came from an
address B now owns, which B's kernel drops as a martian. B's bingo waited on
both of its pool's connections until TCP gave up: minutes of 504s.

Here a server on A that never answers stands for the busy database, a client
on B sends a request through the VIP and waits (10 s timeout); a planned
failover moves the VIP to B. B's vipd must end the client's connection
(ECONNABORTED) within a second of the move, and A's must end the connection
of a client of its own that reached A's server through the VIP (released).
Without the feature both clients time out. About 10 s.
"""

import json
import os
import time

import pytest

from conftest import running_lab

VIP = "198.18.0.100"
PORT = 5999
WAIT_S = 10


@pytest.fixture(scope="module")
def lab(request):
    with running_lab(request, interval_ms=100) as lab:
        yield lab


def _lines(lab, name):
    try:
        with open(os.path.join(lab.dir, f"{name}.out")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def _client(lab, node, name):
    lab.python(node, "hangclient.py", VIP, PORT, WAIT_S, name=name,
               stdout=os.path.join(lab.dir, f"{name}.out"))
    lab.wait_for(lambda: _lines(lab, name), 5, f"{name} connected")


def test_a_move_ends_the_connections_it_left_dead(lab):
    lab.wait_master("a")
    lab.python("a", "silentserver.py", "0.0.0.0", PORT, name="silent-a")
    time.sleep(0.3)
    _client(lab, "b", "client-b")   # reaches A's server through the VIP
    _client(lab, "a", "client-a")   # A's own client of the VIP
    assert _lines(lab, "client-b")[0]["local"] != VIP
    t_move = time.monotonic()
    lab.vipctl("a", "failover")
    lab.wait_master("b")
    for name in ("client-b", "client-a"):
        lab.wait_for(lambda: len(_lines(lab, name)) > 1, WAIT_S + 5, f"{name} finished")
    took = time.monotonic() - t_move
    b, a = _lines(lab, "client-b")[1], _lines(lab, "client-a")[1]
    assert b["outcome"] == "aborted", f"B's client of the old holder: {b} (B's log: {lab.log('b')[-800:]})"
    assert a["outcome"] in ("aborted", "reset"), f"A's client through its own VIP: {a}"
    assert took < 3, f"the clients finished {took:.1f} s after the move"
    assert "ended 1 local connection to 198.18.0.100" in lab.log("b")
    assert "local connections from 198.18.0.100" in lab.log("a") or "local connection from" in lab.log("a")
