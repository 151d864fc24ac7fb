"""Drive lab/lib.sh from Python (pytest, benchmarks) through ONE long-lived bash.

Every lab_* call runs in the same bash process that sourced lib.sh, so the
daemons it starts are that shell's children: `$!` is vipd's PID, `wait`
reaps them, and lib.sh's `trap lab_down EXIT INT TERM` covers them. The shell
runs in its own session (a Ctrl-C meant for pytest does not hit the daemons
directly) and reads its commands from a pipe: if the Python side dies, even by
SIGKILL, the shell reads EOF, exits, and its EXIT trap tears the lab down.
"""

import json
import os
import select
import signal
import subprocess
import tempfile
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(LAB_DIR)


class LabError(RuntimeError):
    pass


class LabShell:
    def __init__(self, env=None):
        self.tmp = tempfile.mkdtemp(prefix="vipd-labsh.")
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("BIN_DIR", os.path.join(REPO, ".build", "debug"))
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(os.path.join(self.tmp, "shell.err"), "w"),
            env=full_env, cwd=REPO, start_new_session=True, text=True, bufsize=1)
        self.counter = 0
        self.closed = False
        self.lab = None
        self.run(f"source {LAB_DIR}/lib.sh")

    def run(self, command, check=True, timeout=120):
        """Runs `command` in the lab shell; returns (rc, stdout, stderr)."""
        if self.closed:
            raise LabError("lab shell closed")
        self.counter += 1
        out = os.path.join(self.tmp, f"{self.counter}.out")
        err = os.path.join(self.tmp, f"{self.counter}.err")
        marker = f"__labsh_done_{self.counter}__"
        self.proc.stdin.write(f'{{ {command}\n}} </dev/null >"{out}" 2>"{err}"; echo "{marker} $?"\n')
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        rc = None
        while rc is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError(f"timeout after {timeout}s: {command}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise LabError(f"lab shell exited during: {command}")
            if line.startswith(marker):
                rc = int(line.split()[1])
        stdout = open(out).read()
        stderr = open(err).read()
        os.unlink(out)
        os.unlink(err)
        if check and rc != 0:
            raise LabError(f"`{command}` failed with {rc}:\n{stderr}{stdout}")
        return rc, stdout, stderr

    def out(self, command, **kw):
        return self.run(command, **kw)[1].strip()

    # Conveniences over lib.sh -------------------------------------------------

    def up(self):
        self.run("lab_up", timeout=600)
        # lab_up registered `lab_down` for EXIT/INT/TERM; also drop this driver's files at exit.
        self.run(f"trap 'lab_down; rm -rf {self.tmp}' EXIT")
        self.lab = self.out("echo $LAB")
        self.prefix = self.out("echo $LAB_P")
        return self.lab

    def ns(self, node):
        return f"{self.prefix}-{node}"

    def status(self, node):
        rc, out, _ = self.run(f"lab_status {node}", check=False)
        if rc != 0:
            return None
        return json.loads(out)

    def state(self, node):
        st = self.status(node)
        return st["state"] if st else "down"

    def holders(self):
        return self.out("lab_who_holds_vip").split()

    def pid(self, node):
        text = self.out(f"lab_pid {node}", check=False)
        return int(text) if text else None

    def log(self, node):
        try:
            with open(os.path.join(self.lab, f"{node}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def wait_for(self, predicate, timeout, interval=0.05, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise LabError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    def close(self, keep=False):
        """Tears the lab down (idempotent) and ends the shell."""
        if self.closed:
            return
        try:
            if keep:
                self.run("LAB_KEEP=1 lab_down", check=False, timeout=60)
            else:
                self.run("lab_down", check=False, timeout=60)
        except LabError:
            pass
        self.closed = True
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the shell's own session only
                self.proc.wait(timeout=10)
            except Exception:
                pass
        subprocess.run(["rm", "-rf", self.tmp])
