"""primary_conninfo as the agent writes it (System.make_standby), read back
by PostgreSQL's own parser (`postgres -C`) and libpq's (psycopg2's
parse_dsn): a password with a backslash, a colon and a quote must arrive
intact. The playbook test's password ('replication:test\\pass') did not: the
rejoined standby could not log in and was rewound every 30 s."""

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import replace

import pytest

from vipd_pg import config
from vipd_pg.system import System

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "replication:test\\pass 'quoted' \\\\ end"


def _as_postgres(argv, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, **kw)


@pytest.fixture
def datadir():
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        pytest.skip("PostgreSQL 15 is not installed")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user")
    # Not under pytest's tmp_path: its parents are 0700 root, and initdb runs as postgres.
    top = tempfile.mkdtemp(prefix="vipd-pg-conninfo.")
    os.chmod(top, 0o755)
    d = os.path.join(top, "data")
    os.mkdir(d)
    shutil.chown(d, "postgres")
    try:
        out = _as_postgres([os.path.join(PG_BIN, "initdb"), "-D", d, "-A", "trust", "-U", "postgres"], timeout=120)
        assert out.returncode == 0, out.stderr
        yield d
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_primary_conninfo_survives_both_parsers(tmp_path, datadir):
    secret = tmp_path / "repl.password"
    secret.write_text(PASSWORD + "\n")
    path = tmp_path / "pg.conf"
    path.write_text(f"[replication]\ndb_address = 198.18.0.200\napplication_name = node-a\n"
                    f"[agent]\nstate_file = {tmp_path / 'state.json'}\n")
    cfg = replace(config.load(str(path)), data_directory=str(datadir), repl_password_file=str(secret))
    System(cfg).make_standby()
    shutil.chown(os.path.join(datadir, "postgresql.auto.conf"), "postgres")
    out = _as_postgres([os.path.join(PG_BIN, "postgres"), "-D", str(datadir), "-C", "primary_conninfo"], timeout=60)
    assert out.returncode == 0, out.stderr
    try:
        import psycopg2.extensions
    except ImportError:   # Debian's module, under an interpreter that is not Debian's (as the stand-in does)
        import sys
        sys.path.append("/usr/lib/python3/dist-packages")
        import psycopg2.extensions
    dsn = psycopg2.extensions.parse_dsn(out.stdout.strip())
    assert dsn["password"] == PASSWORD
    assert (dsn["host"], dsn["user"], dsn["application_name"]) == ("198.18.0.200", cfg.repl_user, "node-a")
    assert os.path.exists(os.path.join(datadir, "standby.signal"))
