"""The lab: a registry of processes, the network, and the node API (vipd,
keepalived, nginx, the bingo stand-in, PostgreSQL) in one object, shared by
Tests/lab, the acceptance suite, `make demo`, `make bench` and `make soak`.

    with Lab(nodes=("a", "b")) as lab:      # namespaces, key, binaries
        lab.start_vipd("a"); lab.start_vipd("b")
        lab.wait_master("a")
        lab.kill_hard("a")                  # link down + SIGKILL at once

Rules (../shared/design.md): addresses from 198.18.0.0/15 only, only inside
namespaces made here; every process is recorded with its PID and start time
and ended by PID, never by name; the namespaces are deleted at the end, also
when the lab's process dies (the reaper of procs.py).

Environment: BIN_DIR (vipd and vipctl; default <repo>/.build/debug; COPIED
into the lab directory at start, so a rebuild mid-run changes nothing),
LAB_KEEP=1 (keep the lab directory with configs and logs).
"""

import os
import shutil
import subprocess
import sys
import tempfile

from .bingo import BingoNodes
from .faults import Faults
from .keepalived import KeepalivedNodes
from .pool import PoolNodes
from .procs import Registry
from .topology import Topology
from .util import LabError, need_tools, need_user, say, wait_for
from .vipd import VipdNodes
from .web import REPO, Web


class Lab(Topology, Faults, VipdNodes, KeepalivedNodes, Web, BingoNodes, PoolNodes):
    _opened = 0  # labs made by this process (namespace names)

    def __init__(self, nodes=("a", "b"), clients=("c",), interval_ms=100, log_level="info", bin_dir=None,
                 check_interval_ms=250, rise=2, fall=2, debounce_ms=100, backend_port=30164, check_extra=None,
                 check_timing=None,
                 nginx_binary="/usr/sbin/nginx", need_vipd=True, timing_extra="", service=False):
        self.interval_ms = interval_ms
        self.service = service   # a second network on eth1 (topology.py)
        # More lines of vipd's timing section, indented two spaces (e.g. "  detection: {mode: adaptive}\n").
        self.timing_extra = timing_extra
        self.log_level = log_level
        self.bin_dir = bin_dir or os.environ.get("BIN_DIR", os.path.join(REPO, ".build", "debug"))
        self.need_vipd = need_vipd
        # The front (web.py): vipd's checks and nginx manager, for nodes with setup_front.
        self.check_interval_ms, self.rise, self.fall, self.debounce_ms = check_interval_ms, rise, fall, debounce_ms
        self.check_extra = check_extra or {}   # check name -> extra yaml lines of that check
        self.check_timing = check_timing or {}  # check name -> (interval_ms, timeout_ms, rise, fall)
        self.extra_checks = ""   # more `checks:` entries after nginx and bingo (the database's pg check)
        self.backend_port = backend_port       # bingo's port (discover=True finds it)
        self.nginx_binary = nginx_binary
        self.fronts = set()
        self.bingo_argv = {}
        self.discovered = {}   # node -> bingo's log directory found by strace (bingo.py)
        self.pools, self.pool_of = {}, {}   # node -> its bingo pool members; member -> node (pool.py)
        self.dir = None
        self.registry = None
        # Namespaces are named after the process; every lab after its first
        # gets a suffix, so two can be open at once (the bench's fresh idle lab).
        Lab._opened += 1
        self.prefix = f"vl{os.getpid() % 100000}" + (f"n{Lab._opened}" if Lab._opened > 1 else "")
        self._nodes, self._clients = nodes, clients
        self.closed = False

    # --- up / down ---------------------------------------------------------------

    def up(self):
        if os.geteuid() != 0:
            raise LabError("the lab needs root")
        need_tools("ip", "tcpdump", "ping", "curl", "setpriv", "openssl")
        need_user("vipd")
        binaries = ("vipd", "vipctl") if self.need_vipd else ()
        for b in binaries:
            if not os.access(os.path.join(self.bin_dir, b), os.X_OK):
                raise LabError(f"{self.bin_dir}/{b} not found: build first (swift build) or set BIN_DIR")
        self.dir = tempfile.mkdtemp(prefix="vipd-lab.")
        os.chmod(self.dir, 0o755)   # vipd (as user vipd) must reach its control socket and configs
        self.registry = Registry(self.dir)
        self.registry.start_reaper()
        Topology.__init__(self, self.prefix, self.registry, self._nodes, self._clients, self.service)
        os.makedirs(os.path.join(self.dir, "bin"))
        for b in binaries:
            shutil.copy2(os.path.join(self.bin_dir, b), os.path.join(self.dir, "bin", b))
        self.key = os.path.join(self.dir, "auth.key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(self.key, 0o600)
        try:
            self.create()
        except BaseException:
            self.close(keep=False)
            raise
        say(f"lab up: {self.dir}, namespaces {self.prefix}-*")
        return self

    def close(self, keep=False):
        """Ends every process by PID, deletes every namespace, removes the
        directory unless KEEP or LAB_KEEP=1. Idempotent."""
        if self.closed or self.registry is None:
            return
        self.closed = True
        self.registry.close()
        if keep or os.environ.get("LAB_KEEP") == "1":
            say(f"lab down; kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, kind, _value, _tb):
        self.close(keep=kind is not None)

    def start_all(self, **bingo):
        """The kind installation on every node: the stand-in (BINGO options go to
        start_bingo), the project's nginx front, then vipd with its checks and
        nginx manager."""
        for n in self.nodes:
            self.start_bingo(n, **bingo)
            self.start_front(n)
        for n in self.nodes:
            self.start_vipd(n)
        return self

    # --- processes -----------------------------------------------------------------

    def spawn(self, name, member, argv, user=None, stdout=None, env=None):
        """Starts ARGV in MEMBER's namespace (as USER if given), recorded under NAME.
        Output goes to DIR/NAME.log (stdout to the file STDOUT if given). Returns the PID."""
        if self.registry.pid(name):
            raise LabError(f"{name} is already running")
        prefix = ["ip", "netns", "exec", self.ns(member)]
        if user:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        out = open(stdout, "wb") if stdout else log
        try:
            return self.registry.start(name, prefix + [str(a) for a in argv], out,
                                       log if stdout else subprocess.STDOUT, env=env)
        finally:
            log.close()
            if stdout:
                out.close()

    def pid(self, name):
        """PID of the running process NAME (spawned), or None."""
        return self.registry.pid(name)

    def running(self, name):
        return self.registry.pid(name) is not None

    def stop(self, name, sig=15, timeout=10):
        self.registry.stop(name, sig, timeout)

    def wait_for(self, predicate, timeout, what="condition", interval=0.02):
        return wait_for(predicate, timeout, what, interval)

    def python(self, member, script, *args, name=None, stdout=None):
        """A Python script of lab/ in MEMBER's namespace (a probe, a load)."""
        name = name or os.path.splitext(os.path.basename(script))[0]
        path = script if os.path.isabs(script) else os.path.join(REPO, "lab", script)
        return self.spawn(name, member, [sys.executable, path, *args], stdout=stdout)

    # --- PostgreSQL ----------------------------------------------------------------------

    def start_postgres(self, node, port=5432, settings=None):
        """PostgreSQL 15 (Debian's binaries, a throwaway cluster) on NODE's address;
        its postmaster recorded like every process here. Returns the PgServer."""
        from .postgres import PgServer
        pg = PgServer(address=self.addr(node), port=port, netns=self.ns(node),
                      clients="198.18.0.0/24", settings=settings)
        pg.start()
        self.registry.record(pg.pid, f"postgres-{node}")
        return pg

    def diag(self, lines=30):
        parts = [f"--- {n}.log (last {lines} lines)\n" + "\n".join(self.log(n).splitlines()[-lines:])
                 for n in self.nodes]
        for n in sorted(self.fronts):
            try:
                parts.append(f"--- upstream on {n}\n{self.upstream(n)}")
            except OSError:
                pass
        parts.append(f"--- VIP holders: {self.holders()}")
        return "\n".join(parts)
