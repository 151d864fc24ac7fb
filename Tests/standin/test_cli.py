"""Subcommands, the config file and the ways start-up fails (bingo.md,
"Start-up and files")."""

from __future__ import annotations

import os
import socket
import subprocess

from harness import PYTHON, STANDIN, as_user

DEFAULT = """student_email: you@example.com
postgres_cluster:
  hosts:
  - address: localhost
    port: 5432
  user: postgres
  password: postgres
  db_name: postgres
  ssl_mode: disable
  use_closest_node: false
"""


def run(*args: str, user: bool = True, timeout: float = 60):
    argv = [PYTHON, str(STANDIN), *args]
    return subprocess.run(as_user(argv) if user else argv, capture_output=True, text=True,
                          timeout=timeout)


def test_version():
    out = run("version")
    assert (out.returncode, out.stdout) == (0, "20231121T1537\n")


def test_print_default_config():
    out = run("print_default_config")
    assert (out.returncode, out.stdout) == (0, DEFAULT)


def test_print_current_config_reads_the_root_prefix(make_root):
    root = make_root("current@example.com", [("198.18.0.1", 5433), ("127.0.0.1", 5432)], log_dir=False)
    out = run("--root", root.path, "print_current_config")
    assert out.returncode == 0, out.stderr
    assert "student_email: current@example.com" in out.stdout
    assert "  - address: 198.18.0.1\n    port: 5433\n  - address: 127.0.0.1" in out.stdout


def test_missing_config_panics(tmp_path):
    os.chmod(tmp_path, 0o755)
    for cmd in ("run_server", "print_current_config"):
        out = run("--root", str(tmp_path), cmd)
        assert out.returncode == 2, out
        assert out.stderr.startswith("panic: failed to read config data\n"), out.stderr


def test_missing_log_dir_panics(make_root):
    root = make_root(log_dir=False)
    out = run("--root", root.path, "run_server")
    assert out.returncode == 2
    assert out.stderr.startswith("panic: failed to build logger\n"), out.stderr


def test_unwritable_log_dir_panics(make_root):
    root = make_root()
    os.chown(root.log_dir, 0, 0)
    os.chmod(root.log_dir, 0o755)
    out = run("--root", root.path, "run_server")
    assert out.returncode == 2 and "panic: failed to build logger" in out.stderr


def test_refuses_root(make_root):
    root = make_root()
    b_argv = [PYTHON, str(STANDIN), "--root", root.path, "--init-timeout", "0", "run_server"]
    for cmd in ("run_server", "prepare_db"):
        b_argv[-1] = cmd
        out = subprocess.run(b_argv, capture_output=True, text=True, timeout=30)
        assert out.returncode == 1
        assert out.stderr == "Didn't your mom teach you not to run anything incomprehensible from root?\n"
    assert not os.path.exists(os.path.join(root.log_dir, "main.log"))  # refused before anything


def test_no_database_reachable(make_root):
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    root = make_root(hosts=[("127.0.0.1", dead), ("127.0.0.2", dead)])
    out = run("--root", root.path, "--init-timeout", "0", "--connect-timeout", "1", "run_server")
    assert out.returncode == 1
    assert out.stderr == ("Error: failed Init Core: failed NewDatabase: "
                          "could not connect to any host from the list\n")


def test_first_host_that_accepts_is_used(make_root, spawn, pg):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    root = make_root(hosts=[("127.0.0.1", dead), ("127.0.0.1", pg.port)])
    b = spawn(root=root)
    assert b.request("GET", "/api/movie/1")[0] == 200
    assert f"database 127.0.0.1:{pg.port}" in b.stderr()


def test_sigterm_exits_cleanly(spawn):
    b = spawn()
    b.stop()
    assert b.proc.returncode == 0


def test_prepare_db_refuses_a_second_run(make_root):
    # The session's database is prepared already: a second load would double it.
    root = make_root()
    out = run("--root", root.path, "--scale", "0.0001", "prepare_db")
    assert out.returncode == 1 and out.stderr.startswith("Error: failed prepare_db:"), out.stderr


def test_unknown_death_is_an_error(make_root):
    root = make_root()
    out = run("--root", root.path, "--deaths", "exit,explode", "run_server")
    assert out.returncode == 1 and "explode" in out.stderr


