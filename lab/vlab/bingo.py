"""The bingo stand-in (Tests/standin, run as a program, never imported) on the
lab's nodes: its root prefix with /opt/bingo/config.yaml, its log directory,
start, its control port, and finding its port and log directory from the
outside as an installation does (strace's failing openat, then the listening
socket in /proc)."""

import os
import pwd
import re
import subprocess

from .util import LabError, read, sh, wait_for
from .web import REPO, as_vipd

STANDIN = os.path.join(REPO, "Tests", "standin", "bingo_standin.py")
PYTHON = "/usr/bin/python3"   # Debian's: it has python3-psycopg2, and user vipd can run it
CONTROL_PORT = 30165
# The pool member's unit (bingo@.service); the single bingo.service of older layouts.
BINGO_UNITS = [os.path.join(REPO, "systemd", u) for u in ("bingo@.service", "bingo.service")]


def shipped_restart_sec():
    """RestartSec of the shipped bingo unit, in seconds: the lab's restarts of a
    dead stand-in wait as long as systemd would."""
    unit = next((u for u in BINGO_UNITS if os.path.exists(u)), BINGO_UNITS[0])
    m = re.search(r"^RestartSec=([0-9.]+)(ms|s)?\s*$", read(unit), re.M)
    if not m:
        raise LabError(f"no RestartSec= in {unit}")
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


VIPD_TEMPLATE = os.path.join(REPO, "deploy", "ansible", "roles", "vipd", "templates", "vipd.yaml.j2")


def shipped_check(name):
    """(interval_ms, timeout_ms, rise, fall) of the check NAME the Ansible role
    ships: the acceptance must judge the checks operators run, not tighter lab
    ones (a 200 ms /ping timeout restarted a bingo busy with the session list)."""
    text = read(VIPD_TEMPLATE)
    m = re.search(rf"^  - name: {name}\n(?:    .*\n)*?    interval: (\d+)ms\n    timeout: (\d+)ms\n"
                  r"    rise: (\d+)\n    fall: (\d+)\n", text, re.M)
    if not m:
        raise LabError(f"no {name} check with interval/timeout/rise/fall in {VIPD_TEMPLATE}")
    return tuple(int(g) for g in m.groups())


class BingoNodes:
    def bingo_root(self, node, email=None, db=None):
        """ROOT/opt/bingo/config.yaml for EMAIL (default lab-NODE@example.com) and the
        database hosts DB ([(address, port)], default localhost:5432, unused with --no-db)."""
        root = os.path.join(self.dir, node, "bingo-root")
        os.makedirs(os.path.join(root, "opt", "bingo"), exist_ok=True)
        hosts = "".join(f"  - address: {a}\n    port: {p}\n" for a, p in (db or [("localhost", 5432)]))
        with open(os.path.join(root, "opt", "bingo", "config.yaml"), "w") as f:
            f.write(f"student_email: {email or f'lab-{node}@example.com'}\npostgres_cluster:\n  hosts:\n{hosts}"
                    "  user: postgres\n  password: postgres\n  db_name: postgres\n  ssl_mode: disable\n"
                    "  use_closest_node: false\n")
        for d in (os.path.join(self.dir, node), root, os.path.join(root, "opt"), os.path.join(root, "opt", "bingo")):
            os.chmod(d, 0o755)
        return root

    def discover_bingo(self, node, root):
        """Bingo's log directory as the operator found it: run it once under strace
        and read which main.log its failing openat wanted; that directory is then
        created for user vipd. Returns it."""
        trace = os.path.join(self.dir, node, "bingo-strace.txt")
        subprocess.run(["ip", "netns", "exec", self.ns(node), "strace", "-f", "-qq", "-e", "trace=openat", "-o",
                        trace, *as_vipd(), PYTHON, STANDIN, "--root", root, "run_server"],
                       capture_output=True, timeout=60)
        m = re.search(r'openat\([^"]*"([^"]*/main\.log)"', read(trace))
        if not m:
            raise LabError(f"the stand-in on {node} never tried to open a main.log ({trace})")
        logs = os.path.dirname(m.group(1))
        os.makedirs(logs, exist_ok=True)
        d = logs
        while d.startswith(root) and d != root:
            os.chmod(d, 0o755)
            d = os.path.dirname(d)
        vipd = pwd.getpwnam("vipd")
        os.chown(logs, vipd.pw_uid, vipd.pw_gid)
        return logs

    def start_bingo(self, member, email=None, db=None, knobs=(), discover=False, lifetime="never", control=True,
                    wait=True, command="run_server"):
        """The stand-in in NODE's namespace as user vipd (bingo refuses root).
        discover=False (the kind lab): --port self.backend_port and a log directory
        made here, because the nginx site and vipd's checks must know the port
        before bingo runs. discover=True: the installation's way, the log directory
        from strace and the port read from the listening socket afterwards (it
        sets self.backend_port). db=None: --no-db (in-memory data). lifetime: the
        death of old age ("never" unless a test is about it). Returns the PID once
        it listens (wait=False: at once). MEMBER: a node, or a member of its
        bingo pool (pool.py), which shares its node's root (config and log
        file, as the pool's units share /opt/bingo and /opt/bongo)."""
        node = self.node_of(member)
        root = self.bingo_root(node, email, db)
        argv = [PYTHON, STANDIN, "--root", root, "--name", f"node-{member}", "--quiet", "--lifetime", lifetime]
        if discover:
            if node not in self.discovered:
                self.discovered[node] = self.discover_bingo(node, root)
        else:
            logs = os.path.join(root, "logs")
            os.makedirs(logs, exist_ok=True)
            vipd = pwd.getpwnam("vipd")
            os.chown(logs, vipd.pw_uid, vipd.pw_gid)
            argv += ["--port", str(self.backend_port), "--log-dir", logs]
        if db is None:
            argv.append("--no-db")
        if control:
            argv += ["--control-host", "127.0.0.1", "--control-port", str(CONTROL_PORT)]
        argv += [*knobs, command]   # command: or prepare_db (then wait=False; it exits when done)
        self.bingo_argv[member] = argv
        pid = self.spawn(f"bingo-{member}", member, argv, user="vipd")
        if wait:
            port = wait_for(lambda: self.bingo_port(member), 60, f"the stand-in on {member} to listen", interval=0.05)
            if discover:
                self.backend_port = port
        return pid

    def restart_bingo(self, node, wait=True):
        """The same stand-in again (after a death), as systemd's Restart= would."""
        self.registry.stop(f"bingo-{node}")
        pid = self.spawn(f"bingo-{node}", node, self.bingo_argv[node], user="vipd")
        if wait:
            wait_for(lambda: self.bingo_port(node), 60, f"the stand-in on {node} to listen", interval=0.05)
        return pid

    def bingo_port(self, node):
        """The port the stand-in on NODE listens on (not its control port), from /proc; None if none yet."""
        pid = self.registry.pid(f"bingo-{node}")
        if pid is None:
            raise LabError(f"the stand-in on {node} exited: {self.log(f'bingo-{node}')[-1500:]}")
        ports = [p for p in listening_ports(pid) if p != CONTROL_PORT]
        return ports[0] if ports else None

    def bingo_control(self, node, action):
        """The stand-in's control port: bad, good, crash, state (kind test knobs)."""
        status, body = self.curl(node, f"http://127.0.0.1:{CONTROL_PORT}/control/{action}",
                                 method="GET" if action == "state" else "POST")
        if status != 200:
            raise LabError(f"stand-in control {action} on {node}: {status} {body}")
        return body


def listening_sockets(pid):
    """(family, port, hex address) of the TCP sockets PID listens on, from /proc
    (the namespace's own tables, read through the process)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    found = []
    for family in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{family}") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:   # 0A = LISTEN
                address, port = cols[1].rsplit(":", 1)
                found.append((family, int(port, 16), address))
    return found


def listening_ports(pid):
    """TCP ports PID listens on."""
    return sorted({port for _, port, _ in listening_sockets(pid)})
