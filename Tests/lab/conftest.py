"""Fixtures of the vipd namespace lab (lab/vlab, the project's one lab harness).

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

from vlab import Lab, interval_ms  # noqa: E402


def _sigterm(_signum, _frame):
    # Turn SIGTERM into KeyboardInterrupt so pytest runs the fixture teardown.
    raise KeyboardInterrupt("SIGTERM")


@contextlib.contextmanager
def running_lab(request, nodes=("a", "b"), start=True, **options):
    """A lab with vipd started on `nodes` (start=False: none started), torn down
    afterwards whatever happens (kept, with its path printed, when a test of the
    module failed or LAB_KEEP=1). OPTIONS go to Lab (interval_ms defaults to
    $INTERVAL)."""
    if os.geteuid() != 0:
        pytest.skip("the namespace lab needs root")
    previous = signal.signal(signal.SIGTERM, _sigterm)
    options.setdefault("interval_ms", interval_ms(os.environ.get("INTERVAL", "100ms")))
    lab = Lab(nodes=nodes, **options)
    failed_before = request.session.testsfailed
    try:
        lab.up()
        if start:
            for n in nodes:
                lab.start_vipd(n)
        yield lab
    finally:
        keep = os.environ.get("LAB_KEEP") == "1" or request.session.testsfailed > failed_before
        if keep and lab.dir:
            sys.__stderr__.write(f"\n[lab] keeping {lab.dir} (logs a.log, b.log) for inspection\n")
        lab.close(keep=keep)
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def lab(request):
    with running_lab(request) as instance:
        yield instance
