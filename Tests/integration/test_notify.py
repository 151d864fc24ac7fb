"""Webhooks receive every state change in order, signed; notify scripts run
with keepalived's arguments; a dead webhook never delays a failover."""
import hashlib
import hmac
import json
import os
import signal
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vipdlab import mdi_ms, wait_for


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it gets."""

    def __init__(self, status=200):
        self.events = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.events.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def parsed(self, node):
        return [json.loads(body) for _, body in self.events if json.loads(body)["node"] == node]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def secret_file(directory, text):
    path = directory / "webhook.secret"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_webhook_gets_state_changes_in_order_with_signature(cluster_factory):
    receiver = Receiver()
    try:
        cluster = cluster_factory([150, 100])
        secret = secret_file(cluster.dir, "s3cret-for-webhooks")
        notify = f"notify:\n  webhooks:\n    - url: {receiver.url}\n      secret_file: {secret}\n"
        for node in cluster.nodes:
            node.extra["tail"] = notify
        cluster.start()
        a, b = cluster.nodes
        wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
        a.kill(signal.SIGTERM)
        wait_for(lambda: b.state() == "master", 2, "n1 takeover")
        wait_for(lambda: any(e["event"] == "peer_lost" for e in receiver.parsed("n1")), 3, "peer_lost from n1")
        events_b = receiver.parsed("n1")
        kinds = [(e["event"], e.get("old_state"), e.get("new_state")) for e in events_b]
        print(kinds)
        assert kinds[0] == ("state_change", "init", "backup")
        assert ("state_change", "backup", "master") in kinds
        assert [e["sequence"] for e in events_b] == sorted(e["sequence"] for e in events_b)
        assert len({e["sequence"] for e in events_b}) == len(events_b)
        takeover = next(e for e in events_b if e.get("new_state") == "master")
        assert takeover["reason"] == "master n0 resigned"
        # The old master reported its own shutdown before it exited.
        assert ("state_change", "master", "init") in [(e["event"], e.get("old_state"), e.get("new_state")) for e in receiver.parsed("n0")]
        for headers, body in receiver.events:
            expected = "sha256=" + hmac.new(b"s3cret-for-webhooks", body, hashlib.sha256).hexdigest()
            assert headers["X-Vipd-Signature"] == expected
    finally:
        receiver.close()


def test_dead_webhook_does_not_delay_failover(cluster_factory):
    cluster = cluster_factory([150, 100])
    # Nothing listens on this port: every delivery fails and is retried.
    notify = "notify:\n  webhooks:\n    - url: http://127.0.0.1:9/hook\n      timeout: 2s\n  retries: 5\n"
    for node in cluster.nodes:
        node.extra["tail"] = notify
    cluster.start()
    a, b = cluster.nodes
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    time.sleep(0.3)
    start = time.monotonic()
    a.kill(signal.SIGKILL)
    wait_for(lambda: b.state() == "master", 3, "n1 takeover", poll=0.002)
    elapsed = (time.monotonic() - start) * 1000
    print(f"takeover with a dead webhook: {elapsed:.0f} ms")
    assert elapsed <= mdi_ms(100, 100) + 100


def test_notify_scripts_get_keepalived_arguments(cluster_factory):
    cluster = cluster_factory([150, 100])
    out = cluster.dir / "notify.out"
    script = cluster.dir / "notify.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {out}\nchrt -p $$ | head -1 >> {out}\n")
    os.chmod(script, 0o755)
    out.touch()
    os.chmod(out, 0o666)
    notify = (f"notify:\n  master: [{script}, became-master]\n  backup: [{script}, became-backup]\n"
              f"  generic: [{script}]\n")
    cluster.nodes[0].extra["tail"] = notify
    cluster.start()
    wait_for(lambda: cluster.masters() == ["n0"], 5, "n0 master")
    # The master and generic scripts run side by side: wait for both.
    wait_for(lambda: {"INSTANCE vrid42 MASTER 150", "became-master"} <= set(out.read_text().splitlines()), 3,
             "master and generic notify for MASTER")
    time.sleep(0.2)  # let both scripts finish their chrt line too
    lines = out.read_text().splitlines()
    print(lines)
    assert "became-backup" in lines
    assert "became-master" in lines
    assert "INSTANCE vrid42 BACKUP 150" in lines
    policies = [line for line in lines if "scheduling policy" in line]
    assert policies and all("SCHED_OTHER" in line for line in policies), "scripts must not inherit SCHED_RR"
