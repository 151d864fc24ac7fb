"""vipd speaks sd_notify: READY once serving, WATCHDOG pings from the
engine's loop, STOPPING on SIGTERM — what Type=notify and WatchdogSec= need."""
import os
import signal
import socket
import time

from vipdlab import wait_for


def test_ready_watchdog_and_stopping(cluster_factory):
    cluster = cluster_factory([150, 100])
    path = str(cluster.dir / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    os.chmod(path, 0o777)  # vipd sends after dropping to its own user
    listener.settimeout(5)
    try:
        a = cluster.nodes[0]
        a.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        messages = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 5:
            messages.append(listener.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        pings = sum("WATCHDOG=1" in m for m in messages)
        assert pings >= 5, messages
        a.kill(signal.SIGTERM)
        wait_for(lambda: "STOPPING=1" in listener.recv(4096).decode(), 5, "STOPPING=1")
        a.wait_exit()
        assert a.proc.returncode == 0
    finally:
        listener.close()


def test_sighup_reloads_and_tells_systemd(cluster_factory):
    cluster = cluster_factory([150, 100])
    path = str(cluster.dir / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    os.chmod(path, 0o777)
    listener.settimeout(5)
    try:
        import pwd
        a = cluster.nodes[0]
        a.start(env={"NOTIFY_SOCKET": path})
        vipd = pwd.getpwnam("vipd").pw_uid
        os.chown(cluster.key, vipd, -1)  # re-read as the unprivileged user
        os.chown(a.config, vipd, -1)
        assert listener.recv(4096).decode().startswith("READY=1")
        a.kill(signal.SIGHUP)
        assert listener.recv(4096).decode().startswith("RELOADING=1")
        assert listener.recv(4096).decode().startswith("READY=1")
        wait_for(lambda: "configuration reloaded: no changes" in a.log_text(), 3, "reload logged")
        assert a.proc.poll() is None
    finally:
        listener.close()
