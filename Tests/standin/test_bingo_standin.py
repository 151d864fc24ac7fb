"""Tests of the bingo stand-in fixture (bingo_standin.py).

Run:  python3 -m pytest -q Tests/standin

Every instance listens on 127.0.0.1 only, on free ports chosen at random, and is
stopped by its PID when the test ends (also when it fails).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

STANDIN = Path(__file__).with_name("bingo_standin.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    def __init__(self, *extra: str, name: str = "t1", wait: bool = True) -> None:
        self.name = name
        self.port = free_port()
        self.control_port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(STANDIN), "--host", "127.0.0.1", "--port", str(self.port),
             "--control-port", str(self.control_port), "--name", name, "--quiet", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"stand-in on port {self.port} did not start")

    def request(self, method: str, path: str, body: bytes | None = None,
                control: bool = False, timeout: float = 10.0):
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.control_port if control else self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def control(self, path: str, method: str = "POST"):
        status, _, body = self.request(method, path, control=True)
        assert status == 200, body
        return json.loads(body) if body.startswith(b"{") else body

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture
def spawn():
    started: list[Instance] = []

    def _spawn(*extra: str, **kw) -> Instance:
        inst = Instance(*extra, **kw)
        started.append(inst)
        return inst

    yield _spawn
    for inst in started:
        inst.stop()


@pytest.fixture
def bingo(spawn) -> Instance:
    return spawn()


# ------------------------------------------------------------------------- tests


def test_ping_greeting_and_node_header(bingo):
    status, headers, body = bingo.request("GET", "/ping")
    assert (status, body) == (200, b"pong")
    assert headers["X-Bingo-Node"] == "t1"
    status, headers, body = bingo.request("GET", "/")
    assert status == 200 and b"bingo" in body
    assert headers["Content-Type"].startswith("text/html")
    status, headers, _ = bingo.request("GET", "/nope")
    assert status == 404 and headers["X-Bingo-Node"] == "t1"


def test_no_caching_headers(bingo):
    for path in ("/", "/ping", "/api/movie/1", "/db_dummy"):
        _, headers, _ = bingo.request("GET", path)
        lower = {k.lower() for k in headers}
        assert not lower & {"cache-control", "expires", "etag", "last-modified", "age"}


def test_keep_alive(bingo):
    conn = http.client.HTTPConnection("127.0.0.1", bingo.port, timeout=5)
    try:
        conn.request("GET", "/ping")
        r = conn.getresponse()
        assert r.read() == b"pong" and r.version == 11
        sock = conn.sock
        # A POST body must be consumed so the next request on the connection works.
        conn.request("POST", "/operation", body=b'{"operation": 1}')
        assert conn.getresponse().read().startswith(b"{")
        conn.request("GET", "/ping")
        assert conn.getresponse().read() == b"pong"
        assert conn.sock is sock  # same TCP connection all along
    finally:
        conn.close()


def test_bad_and_good_via_control(bingo):
    assert bingo.control("/control/bad")["healthy"] is False
    status, headers, body = bingo.request("GET", "/ping")
    assert (status, body) == (500, b"I feel bad")
    assert headers["X-Bingo-Node"] == "t1"
    # Being bad affects /ping only.
    assert bingo.request("GET", "/api/movie/1")[0] == 200
    assert bingo.control("/control/state", "GET")["healthy"] is False
    bingo.control("/control/good")
    assert bingo.request("GET", "/ping")[:3:2] == (200, b"pong")


def test_bad_and_good_via_signals(bingo):
    os.kill(bingo.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 2
    while bingo.request("GET", "/ping")[0] != 500:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(bingo.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 2
    while bingo.request("GET", "/ping")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_starts_bad_with_flag(spawn):
    inst = spawn("--bad")
    assert inst.request("GET", "/ping")[:3:2] == (500, b"I feel bad")


def test_api_items_and_lists(bingo):
    t0 = time.monotonic()
    status, headers, body = bingo.request("GET", "/api/movie/1")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["id"] == 1
    assert time.monotonic() - t0 < 0.5
    for kind in ("movie", "customer", "session"):
        assert bingo.request("GET", f"/api/{kind}/999999")[0] == 404
        assert bingo.request("GET", f"/api/{kind}/abc")[0] == 404
        status, headers, body = bingo.request("GET", f"/api/{kind}")
        assert status == 200 and headers["Content-Type"] == "application/json"
        items = json.loads(body)
        assert isinstance(items, list) and items and "id" in items[0]
    assert bingo.request("GET", "/db_dummy")[0] == 200


def test_session_create_and_delete(bingo):
    status, _, body = bingo.request("POST", "/api/session",
                                    json.dumps({"customer_id": 1, "movie_id": 2}).encode())
    assert status == 200
    sid = json.loads(body)["id"]
    assert json.loads(bingo.request("GET", f"/api/session/{sid}")[2])["movie_id"] == 2
    assert bingo.request("DELETE", f"/api/session/{sid}")[0] == 200
    assert bingo.request("DELETE", f"/api/session/{sid}")[0] == 404
    assert bingo.request("GET", f"/api/session/{sid}")[0] == 404
    assert bingo.request("POST", "/api/session", b"not json")[0] == 400
    assert bingo.request("POST", "/api/session", b"[1]")[0] == 400


def test_operation(bingo):
    status, headers, body = bingo.request("POST", "/operation", b'{"operation": 21}')
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["operation"] == 21
    for bad in (b"", b"{", b"[]", b'{"operation": "x"}', b'{"operation": true}',
                b'{"operation": 1.5}', b'{"op": 1}'):
        assert bingo.request("POST", "/operation", bad)[0] == 400, bad
    assert bingo.request("GET", "/operation")[0] == 405


def test_long_dummy_does_not_block_others(spawn):
    inst = spawn("--long-delay", "1.0")
    result = {}

    def slow():
        t0 = time.monotonic()
        result["status"] = inst.request("GET", "/long_dummy")[0]
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert inst.request("GET", "/ping")[0] == 200
    assert time.monotonic() - t0 < 0.5  # answered while /long_dummy is still sleeping
    t.join()
    assert result["status"] == 200 and result["took"] >= 1.0


def test_crash_exits_with_status_1(bingo):
    status, _, body = bingo.request("POST", "/control/crash", control=True)
    assert (status, body) == (200, b"crashing\n")
    assert bingo.proc.wait(timeout=5) == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", bingo.port), timeout=1).close()


def test_sigterm_exits_cleanly(bingo):
    os.kill(bingo.pid, signal.SIGTERM)
    assert bingo.proc.wait(timeout=5) == 0


def test_start_delay(spawn):
    inst = spawn("--start-delay", "1.0", wait=False)
    time.sleep(0.4)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", inst.port), timeout=0.2).close()
    inst.wait_ready()
    assert inst.request("GET", "/ping")[0] == 200


def burst(inst: Instance, n: int) -> dict[int, int]:
    """n sequential GET /ping on one keep-alive connection; status -> count."""
    counts: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=5)
    try:
        for _ in range(n):
            conn.request("GET", "/ping")
            r = conn.getresponse()
            r.read()
            counts[r.status] = counts.get(r.status, 0) + 1
    finally:
        conn.close()
    return counts


def test_throttle_reject(bingo):
    state = bingo.control("/control/throttle?rps=10")
    assert state["throttle_rps"] == 10 and state["throttle_mode"] == "reject"
    t0 = time.monotonic()
    counts = burst(bingo, 60)
    took = time.monotonic() - t0
    # Burst of 10, then 10 per second: whatever the machine's speed, no more
    # than that may pass.
    assert counts.get(200, 0) <= 10 + 10 * took + 1, counts
    assert counts.get(429, 0) >= 1, counts
    for _ in range(50):  # the bucket is (nearly) empty: a 429 comes quickly
        status, headers, _ = bingo.request("GET", "/ping")
        if status == 429:
            assert headers["Retry-After"] == "1"
            break
    else:
        pytest.fail("no 429 while the bucket should be empty")
    assert bingo.control("/control/state", "GET")["throttled_total"] >= counts[429]
    time.sleep(1.1)  # the bucket refills
    assert bingo.request("GET", "/ping")[0] == 200
    bingo.control("/control/throttle?rps=0")
    assert burst(bingo, 60) == {200: 60}
    # The control listener is never throttled.
    assert bingo.request("POST", "/control/throttle?rps=-1", control=True)[0] == 400


def test_throttle_delay(spawn):
    inst = spawn("--throttle-rps", "20", "--throttle-mode", "delay")
    t0 = time.monotonic()
    assert burst(inst, 21) == {200: 21}
    assert time.monotonic() - t0 >= 0.9  # 21 requests, 1/20 s apart


def test_throttle_from_command_line(spawn):
    inst = spawn("--throttle-rps", "5")
    assert burst(inst, 30).get(429, 0) >= 10
