#!/usr/bin/env python3
"""A tiny stand-in for systemd's service restarts, for the lab (which has no
systemd): runs ARGV and

  - restarts it RESTART_SEC after it exits, whatever its status
    (bingo.service: Restart=always, RestartSec=250ms);
  - on SIGHUP restarts it at once: SIGTERM to the child, SIGKILL after
    --stop-timeout (TimeoutStopSec=10s), then start again
    (what `systemctl restart bingo.service` does for vipd's check);
  - on SIGTERM/SIGINT ends the child the same way and exits 0.

    supervise.py [--restart-sec 1] [--pidfile F] [--child-pidfile F] [--events F] -- ARGV...

--pidfile: its own PID (what a restart command signals); --child-pidfile: the
current child's PID; --events: one JSON line per event
{"t": epoch, "event": "start"|"exit"|"hup", "pid": ..., "status": ...}.
The child inherits stdout/stderr. Standard library only.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def write(path, text):
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--restart-sec", type=float, default=1.0)
    p.add_argument("--stop-timeout", type=float, default=10.0)
    p.add_argument("--pidfile")
    p.add_argument("--child-pidfile")
    p.add_argument("--events")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    command = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
    if not command:
        p.error("no command")
    flags = {"hup": False, "term": False}
    signal.signal(signal.SIGHUP, lambda *_: flags.update(hup=True))
    signal.signal(signal.SIGTERM, lambda *_: flags.update(term=True))
    signal.signal(signal.SIGINT, lambda *_: flags.update(term=True))
    write(a.pidfile, f"{os.getpid()}\n")

    def event(kind, **fields):
        if a.events:
            with open(a.events, "a") as f:
                f.write(json.dumps({"t": round(time.time(), 6), "event": kind, **fields}) + "\n")

    def end(child):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(a.stop_timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return child.returncode

    while not flags["term"]:
        child = subprocess.Popen(command)
        write(a.child_pidfile, f"{child.pid}\n")
        event("start", pid=child.pid)
        while child.poll() is None and not flags["term"] and not flags["hup"]:
            time.sleep(0.02)
        if flags["hup"]:
            flags["hup"] = False
            event("hup", pid=child.pid, status=end(child))
            continue    # at once: a restart, not a crash
        status = end(child)
        if flags["term"]:
            break
        event("exit", pid=child.pid, status=status)
        deadline = time.monotonic() + a.restart_sec
        while time.monotonic() < deadline and not flags["term"] and not flags["hup"]:
            time.sleep(0.02)
        flags["hup"] = False
    return 0


if __name__ == "__main__":
    sys.exit(main())
