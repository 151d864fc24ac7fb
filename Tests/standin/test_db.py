"""The database: prepare_db's tables and data, the queries of bingo.md, the
pool of 2, the statement timeout, real writes, and the indexes applied from
the Ansible role's own SQL file."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

from conftest import SCALE
from vlab.postgres import PASSWORD, PG_BIN

INDEXES_SQL = (Path(__file__).resolve().parents[2] /
               "deploy/ansible/roles/postgresql/files/bingo-indexes.sql")


def test_prepare_db_tables_without_keys_or_indexes(pg):
    tables = pg.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
                     " WHERE schemaname = 'public'")
    assert tables == "customers,movies,schema_migrations,sessions"
    assert pg.psql("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'") == "0"
    assert pg.psql("SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace") == "0"
    counts = {t: int(pg.psql(f"SELECT count(*) FROM {t}")) for t in ("sessions", "customers", "movies")}
    assert counts == {"sessions": round(5_000_000 * SCALE), "customers": round(500_000 * SCALE),
                      "movies": round(29_019 * SCALE)}
    cols = pg.psql("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position)"
                   " FROM information_schema.columns WHERE table_name = 'sessions'")
    assert cols == "id:bigint,start_time:timestamp without time zone,customer_id:integer,movie_id:integer"


def test_lists_are_ordered_as_bingo_md(spawn):
    b = spawn()
    status, _, body = b.request("GET", "/api/movie")
    movies = json.loads(body)
    assert status == 200 and len(movies) == round(29_019 * SCALE)
    assert movies == sorted(movies, key=lambda m: (-m["year"], m["name"], -m["id"]))
    customers = json.loads(b.request("GET", "/api/customer")[2])
    assert len(customers) == round(500_000 * SCALE)
    assert [c["surname"] for c in customers] == sorted(c["surname"] for c in customers)
    sessions = json.loads(b.request("GET", "/api/session")[2])
    assert len(sessions) == round(5_000_000 * SCALE)
    keys = [(-s["movie"]["year"], s["movie"]["name"], s["customer_id"], -s["id"]) for s in sessions]
    assert keys == sorted(keys)


def test_items(spawn, pg):
    b = spawn()
    movie = json.loads(b.request("GET", "/api/movie/3")[2])
    assert movie["name"] == pg.psql("SELECT name FROM movies WHERE id = 3")
    customer = json.loads(b.request("GET", "/api/customer/5")[2])
    assert customer["email"] == "customer5@example.com"
    session = json.loads(b.request("GET", "/api/session/7")[2])
    assert session["movie_id"] == int(pg.psql("SELECT movie_id FROM sessions WHERE id = 7"))
    for kind in ("movie", "customer", "session"):
        assert b.request("GET", f"/api/{kind}/99999999")[0] == 404
        assert b.request("GET", f"/api/{kind}/abc")[0] == 404


def test_post_and_delete_really_write(spawn, pg):
    b = spawn()
    status, _, body = b.request("POST", "/api/session", body={
        "start_time": "2021-12-09T16:12:52.059188Z", "customer_id": 100, "movie_id": 50})
    assert status == 200, body
    sid = json.loads(body)["id"]
    assert sid > round(5_000_000 * SCALE)     # from the sequence, after the loaded ids
    assert pg.psql(f"SELECT customer_id || ',' || movie_id FROM sessions WHERE id = {sid}") == "100,50"
    # Another instance on the same database sees it (both nodes must).
    other = spawn()
    assert json.loads(other.request("GET", f"/api/session/{sid}")[2])["movie_id"] == 50
    assert other.request("DELETE", f"/api/session/{sid}")[0] == 200
    assert pg.psql(f"SELECT count(*) FROM sessions WHERE id = {sid}") == "0"
    assert b.request("DELETE", f"/api/session/{sid}")[0] == 404
    assert b.request("POST", "/api/session", body=b"not json")[0] == 400


def test_db_dummy_is_pg_sleep(spawn):
    b = spawn()
    t0 = time.monotonic()
    assert b.request("GET", "/db_dummy")[0] == 200
    assert 0.1 <= time.monotonic() - t0 < 1.0


def concurrently(b, n: int, path: str) -> float:
    threads = [threading.Thread(target=b.request, args=("GET", path)) for _ in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def test_pool_of_two_connections(spawn, pg):
    b = spawn()
    # Six 100 ms queries through 2 connections: three rounds, >= 0.3 s.
    # (With 6 connections they would take ~0.1 s.)
    assert concurrently(b, 6, "/db_dummy") >= 0.3
    assert concurrently(b, 2, "/db_dummy") < 0.3
    conns = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bingo'"
                    f" AND client_port IS NOT NULL")
    assert conns == "2"


def test_pool_size_knob(spawn):
    b = spawn("--pool-size", "6")
    assert concurrently(b, 6, "/db_dummy") < 0.3


def test_statement_timeout(spawn):
    b = spawn("--statement-timeout", "0.05")
    status, _, body = b.request("GET", "/db_dummy")
    assert status == 500 and b"statement timeout" in body
    assert b.request("GET", "/db_dummy")[0] == 500          # the pool survives it
    assert b.request("GET", "/api/movie/1")[0] == 200


def test_default_statement_timeout_is_20s(spawn, pg):
    b = spawn()
    # Hold a lock on movies for longer than 20 s: the query waits for it
    # until the statement timeout cancels it.
    locker = subprocess.Popen(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
                               f"{PG_BIN}/psql", "-h", pg.dir, "-p", str(pg.port), "-U", "postgres",
                               "-c", "BEGIN; LOCK TABLE movies; SELECT pg_sleep(24); COMMIT;"],
                              env={**os.environ, "PGPASSWORD": PASSWORD}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while pg.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                      " WHERE c.relname = 'movies' AND l.mode = 'AccessExclusiveLock'") != "1":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        status, _, body = b.request("GET", "/api/movie/1", timeout=40)
        took = time.monotonic() - t0
        assert status == 500 and b"statement timeout" in body
        assert 19.5 <= took <= 22, took
    finally:
        locker.kill()
        locker.wait()


def test_indexes_from_the_ansible_role(pg):
    # A copy of the prepared tables, so the session's database stays as
    # prepare_db leaves it (no keys, no indexes).
    pg.psql("CREATE DATABASE indexed TEMPLATE postgres")
    try:
        for _ in range(2):                     # idempotent: the role may run it again
            pg.psql(str(INDEXES_SQL), db="indexed")
        names = pg.psql("SELECT string_agg(n, ',' ORDER BY n) FROM (SELECT conname n FROM pg_constraint"
                        " WHERE contype = 'p' AND connamespace = 'public'::regnamespace UNION SELECT indexname FROM pg_indexes"
                        " WHERE schemaname = 'public' AND indexname NOT LIKE '%_pk') x", db="indexed")
        assert names == ("customers_pk,customers_surname_idx,movies_pk,movies_year_idx,"
                         "movies_year_name_idx,sessions_movie_id_idx,sessions_pk")
        plan = pg.psql("EXPLAIN SELECT * FROM sessions WHERE id IN (5)", db="indexed")
        assert "sessions_pk" in plan
    finally:
        pg.psql("DROP DATABASE indexed")
