"""The lab's one registry of processes and namespaces.

Every process the lab starts is recorded in DIR/pids as "PID STARTTIME NAME"
(field 22 of /proc/PID/stat), so a recycled PID is never signalled, and ended
by PID; every namespace it creates is recorded in DIR/netns and deleted at the
end. A reaper process watches a pipe from the lab's process and cleans up if
that process dies without doing so (even by SIGKILL).

This file is also the reaper's program (`procs.py --reaper DIR`), so it uses
the standard library only.
"""

import os
import shutil
import signal
import subprocess
import sys
import time


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def descendants(pid):
    """PIDs of PID's children, grandchildren, ... (read from /proc, before any kill)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def read_records(lab_dir):
    path = os.path.join(lab_dir, "pids")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(p), s, n) for p, s, n in (line.split(None, 2) for line in f if line.strip())]


def cleanup(lab_dir):
    """Kills every recorded process that is still the one we started, and its
    descendants (an nginx master killed alone would orphan its workers), then
    deletes every recorded namespace. Idempotent."""
    ours = [(pid, start) for pid, start, _ in read_records(lab_dir) if proc_start_time(pid) == start]
    kids = [(k, proc_start_time(k)) for pid, _ in ours for k in descendants(pid)]
    for pid, start in ours + kids:
        if start is not None and proc_start_time(pid) == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for pid, start in ours + kids:
        deadline = time.monotonic() + 5
        while start is not None and proc_start_time(pid) == start and time.monotonic() < deadline:
            time.sleep(0.01)
    netns = os.path.join(lab_dir, "netns")
    if os.path.exists(netns):
        with open(netns) as f:
            for ns in f.read().split():
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def reaper_main(lab_dir):
    """Blocks until the lab's process closes our stdin (it finished or died);
    cleans up unless it marked the lab down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the lab's process
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except Exception:
        pass
    if not os.path.exists(os.path.join(lab_dir, "down")):
        cleanup(lab_dir)
        if os.environ.get("LAB_KEEP") != "1":
            shutil.rmtree(lab_dir, ignore_errors=True)


class Registry:
    """Starts processes in namespaces and ends them by PID; see the module doc."""

    def __init__(self, lab_dir):
        self.dir = lab_dir
        self.popen = {}   # pid -> Popen (our children, to reap)
        self.names = {}   # name -> pid of the latest process of that name
        self.starts = {}  # pid -> start time, as recorded
        self.reaper = None
        open(os.path.join(lab_dir, "pids"), "a").close()
        open(os.path.join(lab_dir, "netns"), "a").close()

    def start_reaper(self):
        self.reaper = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--reaper", self.dir],
                                       stdin=subprocess.PIPE, start_new_session=True)

    def record_netns(self, ns):
        with open(os.path.join(self.dir, "netns"), "a") as f:
            f.write(ns + "\n")

    def record(self, pid, name):
        start = proc_start_time(pid)
        if start is None:
            return None
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write(f"{pid} {start} {name}\n")
        self.names[name] = pid
        self.starts[pid] = start
        return start

    def start(self, name, argv, stdout, stderr, env=None):
        """Starts argv (which execs through `ip netns exec`/`setpriv`, so the PID is
        the program's own); records it under NAME. Returns the PID."""
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env,
                                start_new_session=True)
        self.popen[proc.pid] = proc
        for _ in range(400):
            if self.record(proc.pid, name) is not None:
                return proc.pid
            if proc.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError(f"{name} ({argv[0]}...) exited at once with {proc.poll()}")

    def ours(self, pid):
        """True while PID is a live process this lab started (not a recycled PID)."""
        if not pid:
            return False
        proc = self.popen.get(pid)
        if proc is not None and proc.poll() is not None:
            return False
        start = proc_start_time(pid)
        return start is not None and self.starts.get(pid) == start

    def pid(self, name):
        pid = self.names.get(name)
        return pid if self.ours(pid) else None

    def wait_gone(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while self.ours(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        proc = self.popen.pop(pid, None)
        if proc is not None:
            proc.wait()
        return True

    def kill(self, pid, sig=signal.SIGTERM, timeout=10):
        """Signals PID (if still ours), waits until it is gone; SIGKILL after TIMEOUT s."""
        if not self.ours(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        if not self.wait_gone(pid, timeout):
            sys.stderr.write(f"[lab] pid {pid} still alive {timeout}s after {signal.Signals(sig).name}; SIGKILL\n")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait_gone(pid, 30)

    def stop(self, name, sig=signal.SIGTERM, timeout=10):
        pid = self.names.get(name)
        if pid:
            self.kill(pid, sig, timeout)

    def close(self):
        cleanup(self.dir)
        for proc in self.popen.values():
            try:
                proc.wait(timeout=5)
            except Exception:
                pass
        self.popen.clear()
        open(os.path.join(self.dir, "down"), "w").close()
        if self.reaper:
            self.reaper.stdin.close()
            self.reaper.wait(timeout=30)
            self.reaper = None


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reaper":
        reaper_main(sys.argv[2])
    else:
        sys.exit("usage: procs.py --reaper LAB_DIR (internal)")
