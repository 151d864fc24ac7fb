"""Fixtures of the stand-in's tests: one real PostgreSQL 15 per test session
(PgServer: initdb in a temporary directory, 127.0.0.1 only, stopped by PID
also when a test fails), loaded by the stand-in's own prepare_db at a small
scale, and stand-ins started as an unprivileged user."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))  # the lab package: vlab.postgres

from harness import PYTHON, STANDIN, Bingo, Root, as_user  # noqa: E402
from vlab.postgres import PgServer  # noqa: E402

# Small data for CI; lab/bench_api.py runs the full size.
SCALE = 0.002   # 10,000 sessions, 1,000 customers, 58 movies
# Knobs every test gets unless it is about them: a start-up of a fraction of
# a second (this machine has a route to 8.8.8.8) and no death of old age.
QUICK = ("--init-timeout", "0.2", "--init-fail-fast", "0.2", "--lifetime", "never")


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root: PostgreSQL as postgres, the stand-in as nobody, namespaces")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg():
    server = PgServer()
    try:
        server.start()
        root = Root("prepare@example.com", [("127.0.0.1", server.port)])
        try:
            root.discover_log_dir()
            out = subprocess.run(as_user([PYTHON, str(STANDIN), "--root", root.path,
                                          "--scale", str(SCALE), "--seed", "7", "prepare_db"]),
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
        finally:
            root.cleanup()
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_root(pg):
    made = []

    def _make(email: str | None = None, hosts=None, log_dir: bool = True) -> Root:
        root = Root(email or f"{uuid.uuid4().hex[:8]}@example.com",
                    hosts if hosts is not None else [("127.0.0.1", pg.port)])
        made.append(root)
        if log_dir:
            root.discover_log_dir()
        return root

    yield _make
    for root in made:
        root.cleanup()


@pytest.fixture
def spawn(make_root):
    started = []

    def _spawn(*knobs: str, root: Root | None = None, quick: bool = True, wait: bool = True,
               netns: str | None = None) -> Bingo:
        b = Bingo(root or make_root(), *(QUICK if quick else ()), *knobs, netns=netns)
        started.append(b)
        if wait:
            b.wait_listening()
        return b

    yield _spawn
    for b in started:
        b.stop()
