"""The HTTP side: greeting, keep-alive, no caching headers, /long_dummy not
blocking others, the test-only knobs (--name, --no-db, the control
listener)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time


def test_greeting_ping_and_404(spawn):
    b = spawn()
    assert b.request("GET", "/ping")[:3:2] == (200, b"pong")
    for method in ("GET", "POST"):
        status, headers, body = b.request(method, "/")
        assert status == 200 and b"bingo" in body
    status, headers, _ = b.request("GET", "/nope")
    assert status == 404 and "X-Bingo-Node" not in headers   # only with --name


def test_no_caching_headers(spawn):
    b = spawn()
    for path in ("/", "/ping", "/api/movie/1", "/db_dummy", "/api/customer/1"):
        _, headers, _ = b.request("GET", path)
        lower = {k.lower() for k in headers}
        assert not lower & {"cache-control", "expires", "etag", "last-modified", "age"}


def test_keep_alive(spawn):
    b = spawn()
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
    try:
        conn.request("GET", "/ping")
        r = conn.getresponse()
        assert r.read() == b"pong" and r.version == 11
        sock = conn.sock
        conn.request("POST", "/operation", body=b'{"operation": 1}')
        assert conn.getresponse().read().startswith(b"{")
        conn.request("GET", "/ping")
        assert conn.getresponse().read() == b"pong"
        assert conn.sock is sock
    finally:
        conn.close()


def test_long_dummy_does_not_block_others(spawn):
    b = spawn("--long-delay", "1.0")
    result = {}

    def slow():
        t0 = time.monotonic()
        result["status"] = b.request("GET", "/long_dummy")[0]
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert b.request("GET", "/ping")[0] == 200
    assert time.monotonic() - t0 < 0.5
    t.join()
    assert result["status"] == 200 and result["took"] >= 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kind_knobs_port_name_no_db(make_root, spawn):
    # What the front tests ask for: a fixed port, a node name, no database.
    root = make_root(hosts=[])            # no database host at all
    port = free_port()
    b = spawn("--port", str(port), "--name", "n1", "--no-db", root=root)
    assert b.port == port
    status, headers, body = b.request("GET", "/api/movie/1")
    assert status == 200 and headers["X-Bingo-Node"] == "n1" and json.loads(body)["id"] == 1
    status, _, body = b.request("POST", "/api/session", body={
        "start_time": "2021-12-09T16:12:52Z", "customer_id": 1, "movie_id": 2})
    sid = json.loads(body)["id"]
    assert b.request("DELETE", f"/api/session/{sid}")[0] == 200
    assert b.request("DELETE", f"/api/session/{sid}")[0] == 404


def test_control_listener(spawn):
    cport = free_port()
    b = spawn("--control-port", str(cport), "--no-db")
    ctl = lambda method, path: b.request(method, path, port=cport)  # noqa: E731
    assert json.loads(ctl("GET", "/control/state")[2])["sick"] is False
    assert ctl("POST", "/control/bad")[0] == 200
    assert b.request("GET", "/api/movie/1")[:3:2] == (500, b"I feel bad")
    assert ctl("POST", "/control/good")[0] == 200
    assert b.request("GET", "/ping")[2] == b"pong"
    assert json.loads(ctl("POST", "/control/rps?limit=5")[2])["rps_limit"] == 5
    assert ctl("POST", "/control/rps?limit=-1")[0] == 400
    status, _, body = ctl("POST", "/control/crash")
    assert (status, body) == (200, b"crashing\n")
    assert b.wait_exit(5) == 1


def test_control_listener_is_off_by_default(spawn):
    b = spawn()
    from harness import listening_ports
    assert len(listening_ports(b.pid)) == 1
