"""Fixtures of the vipd namespace lab (lab/lib.sh driven through lab/labshell.py).

Run as root:  python3 -m pytest -q Tests/lab
Environment:  BIN_DIR (default <repo>/.build/debug; the binaries are copied at
start), INTERVAL (advert interval, default 100ms), LAB_MARGIN_MS (scheduling
margin of the VIP-restore check, default 50), LAB_KEEP=1 (keep the lab dir).
"""

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


@pytest.fixture(scope="module")
def lab(request):
    if os.geteuid() != 0:
        pytest.skip("the namespace lab needs root")
    previous = signal.signal(signal.SIGTERM, _sigterm)
    shell = LabShell(env={"INTERVAL": os.environ.get("INTERVAL", "100ms")})
    failed_before = request.session.testsfailed
    try:
        shell.up()
        shell.run("lab_start_vipd a; lab_start_vipd b")
        yield shell
    finally:
        keep = os.environ.get("LAB_KEEP") == "1" or request.session.testsfailed > failed_before
        if keep and shell.lab:
            sys.__stderr__.write(f"\n[lab] keeping {shell.lab} (logs a.log, b.log) for inspection\n")
        shell.close(keep=keep)
        signal.signal(signal.SIGTERM, previous)
