"""Fixtures of the vipd namespace lab (lab/lib.sh driven through lab/labshell.py).

Run as root:  python3 -m pytest -q Tests/lab
Environment:  BIN_DIR (default <repo>/.build/debug; the binaries are copied at
start), INTERVAL (advert interval, default 100ms), LAB_MARGIN_MS (scheduling
margin of the VIP-restore check, default 50), LAB_KEEP=1 (keep the lab dir).
"""

import contextlib
import os
import signal
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "lab"))

from labshell import LabShell  # noqa: E402


def _sigterm(_signum, _frame):
    # Turn SIGTERM into KeyboardInterrupt so pytest runs the fixture teardown.
    raise KeyboardInterrupt("SIGTERM")


@contextlib.contextmanager
def running_lab(request, env, nodes=("a", "b")):
    """A lab (lib.sh through LabShell) with vipd started on `nodes`, torn down
    afterwards whatever happens (kept, with its path printed, when a test of
    the module failed or LAB_KEEP=1). `env` is the shell's extra environment."""
    if os.geteuid() != 0:
        pytest.skip("the namespace lab needs root")
    previous = signal.signal(signal.SIGTERM, _sigterm)
    shell = LabShell(env=env)
    failed_before = request.session.testsfailed
    try:
        shell.up()
        shell.run("; ".join(f"lab_start_vipd {n}" for n in nodes))
        yield shell
    finally:
        keep = os.environ.get("LAB_KEEP") == "1" or request.session.testsfailed > failed_before
        if keep and shell.lab:
            sys.__stderr__.write(f"\n[lab] keeping {shell.lab} (logs a.log, b.log) for inspection\n")
        shell.close(keep=keep)
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def lab(request):
    with running_lab(request, {"INTERVAL": os.environ.get("INTERVAL", "100ms")}) as shell:
        yield shell
