"""The port and the log directory come from student_email (a function only
the stand-in knows; found here from the outside, as an installation must),
the IPv6 socket on all addresses, and the JSON log."""

from __future__ import annotations

import os
import re
import time

from harness import listening_ports


def test_port_and_log_dir_follow_the_email(make_root, spawn):
    seen = {}
    for email in ("alice@example.com", "bob@example.com", "alice@example.com"):
        root = make_root(email)
        assert re.fullmatch(r".*/opt/bongo/logs/[0-9a-f]{10}", root.log_dir), root.log_dir
        b = spawn(root=root)
        assert 1024 <= b.port <= 32767
        seen.setdefault(email, set()).add((b.port, os.path.basename(root.log_dir)))
        assert os.path.isfile(os.path.join(root.log_dir, "main.log"))
        b.stop()
    assert len(seen["alice@example.com"]) == 1       # the same email, the same pair
    assert seen["alice@example.com"] != seen["bob@example.com"]


def test_listens_on_an_ipv6_socket_for_all_addresses(spawn):
    b = spawn()
    sockets = listening_ports(b.pid)
    assert [(fam, addr) for fam, _, addr in sockets] == [("tcp6", "0" * 32)]   # :::PORT
    assert b.request("GET", "/ping")[2] == b"pong"                     # IPv4 as well
    assert b.request("GET", "/ping", host="::1")[2] == b"pong"


def test_log_is_json_lines_with_the_real_messages(make_root, spawn):
    root = make_root()
    b = spawn(root=root)
    assert b.request("GET", "/ping")[0] == 200
    b.stop()
    st = os.stat(os.path.join(root.log_dir, "main.log"))
    assert st.st_uid == 65534                                  # created by bingo's user
    records = root.log_records()
    msgs = [r["msg"] for r in records]
    for expected in ("Prepare app.", "Run initialization request.",
                     "Failed initialization request.", "I am alive.", "request completed"):
        assert expected in msgs, msgs
    done = next(r for r in records if r["msg"] == "request completed")
    assert done["url_path"] == "/ping" and isinstance(done["event_duration"], int)
    assert all(r["environment"]["student_email"] == root.email for r in records)


def test_log_is_appended_not_truncated(make_root, spawn):
    root = make_root()
    spawn(root=root).stop()
    first = len(root.log_records())
    spawn(root=root).stop()
    assert len(root.log_records()) > first


def test_port_is_not_bound_before_the_initialization_request_ends(make_root, spawn):
    b = spawn("--init-timeout", "1.5", "--init-fail-fast", "1.5", wait=False)
    time.sleep(0.8)
    assert b.proc.poll() is None and listening_ports(b.pid) == []
    b.wait_listening()
    assert time.monotonic() - b.started_at >= 1.5
