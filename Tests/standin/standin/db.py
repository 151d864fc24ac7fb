"""PostgreSQL the way bingo uses it: the hosts of the config tried in order
(the first that accepts a connection is used; nothing smarter is assumed of
the real binary), a pool of 2 connections, a 20 s statement timeout, and the
queries seen in the real server's logs."""

from __future__ import annotations

import queue
import sys
import threading
from contextlib import contextmanager
from datetime import date, datetime

try:
    import psycopg2
except ImportError:
    # Debian's python3-psycopg2 installs into /usr/lib/python3/dist-packages,
    # which an interpreter not from Debian (pyenv on PATH) does not search.
    # Same Python 3.11 ABI, so its module loads there too.
    sys.path.append("/usr/lib/python3/dist-packages")
    import psycopg2

NO_HOST = "failed Init Core: failed NewDatabase: could not connect to any host from the list"
LIMIT = 100000

_SESSION_SELECT = (
    "SELECT sessions.id, sessions.start_time, sessions.customer_id, sessions.movie_id,"
    " customers.name, customers.surname, customers.birthday, customers.email,"
    " movies.name, movies.year, movies.duration"
    " FROM sessions JOIN customers ON customers.id = sessions.customer_id"
    " JOIN movies ON movies.id = sessions.movie_id")
_SESSION_ORDER = " ORDER BY movies.year DESC, movies.name ASC, customers.id, sessions.id DESC LIMIT 100000"
_CUSTOMER_ORDER = " ORDER BY surname, name, birthday DESC, id DESC LIMIT 100000"
_MOVIE_ORDER = " ORDER BY year DESC, name, id DESC LIMIT 100000"


class NotFound(Exception):
    pass


class DatabaseError(Exception):
    """A query failed (timeout, lost connection); the request answers 500."""


def _jsonable(v):
    return v.isoformat() if isinstance(v, (date, datetime)) else v


def _session_row(r) -> dict:
    return {"id": r[0], "start_time": _jsonable(r[1]), "customer_id": r[2], "movie_id": r[3],
            "customer": {"id": r[2], "name": r[4], "surname": r[5],
                         "birthday": _jsonable(r[6]), "email": r[7]},
            "movie": {"id": r[3], "name": r[8], "year": r[9], "duration": r[10]}}


class Database:
    def __init__(self, cfg: dict, hosts: list[tuple[str, int]], pool_size: int,
                 statement_timeout_s: float, connect_timeout_s: float) -> None:
        cluster = cfg.get("postgres_cluster") or {}
        self._params = {
            "user": str(cluster.get("user", "postgres")),
            "password": str(cluster.get("password", "")),
            "dbname": str(cluster.get("db_name", "postgres")),
            "sslmode": str(cluster.get("ssl_mode", "disable")),
            "connect_timeout": max(1, int(connect_timeout_s)),
            "application_name": "bingo",
            "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}",
        }
        self._hosts = hosts
        self.host: tuple[str, int] | None = None
        self._pool: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        for _ in range(pool_size):
            self._pool.put(self._connect())

    def _connect(self):
        """First host of the list that accepts; ConnectionError if none does."""
        for address, port in self._hosts:
            try:
                conn = psycopg2.connect(host=address, port=port, **self._params)
            except psycopg2.OperationalError:
                continue
            conn.autocommit = True
            self.host = (address, port)
            return conn
        raise ConnectionError(NO_HOST)

    @contextmanager
    def _cursor(self):
        # Waits for one of the pool's connections: more concurrent requests
        # than connections queue here, as in the real binary.
        conn = self._pool.get()
        try:
            if conn.closed:
                conn = self._connect()
            with conn.cursor() as cur:
                yield cur
        except psycopg2.Error as e:
            if conn.closed or isinstance(e, psycopg2.OperationalError) and not \
                    isinstance(e, psycopg2.extensions.QueryCanceledError):
                try:
                    conn.close()
                finally:
                    conn = _Closed()
            raise DatabaseError(str(e).strip()) from e
        finally:
            self._pool.put(conn)

    def _all(self, sql: str, args=()) -> list:
        with self._cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall(), [d[0] for d in cur.description]

    def sessions(self, sid: int | None = None):
        if sid is None:
            rows, _ = self._all(_SESSION_SELECT + _SESSION_ORDER)
            return [_session_row(r) for r in rows]
        rows, _ = self._all(_SESSION_SELECT + " WHERE sessions.id IN (%s)" + _SESSION_ORDER, (sid,))
        if not rows:
            raise NotFound
        return _session_row(rows[0])

    def _table(self, table: str, order: str, item: int | None):
        where = f" WHERE {table}.id IN (%s)" if item is not None else ""
        rows, cols = self._all(f"SELECT {table}.* FROM {table}{where}{order}",
                               (item,) if item is not None else ())
        out = [{c: _jsonable(v) for c, v in zip(cols, r)} for r in rows]
        if item is None:
            return out
        if not out:
            raise NotFound
        return out[0]

    def customers(self, cid: int | None = None):
        return self._table("customers", _CUSTOMER_ORDER, cid)

    def movies(self, mid: int | None = None):
        return self._table("movies", _MOVIE_ORDER, mid)

    def db_dummy(self):
        self._all("SELECT pg_sleep(0.1)")
        return {"status": "ok"}

    def create_session(self, start_time: str, customer_id: int, movie_id: int) -> dict:
        rows, _ = self._all(
            "INSERT INTO sessions (start_time, customer_id, movie_id) VALUES (%s, %s, %s)"
            " RETURNING id, start_time, customer_id, movie_id", (start_time, customer_id, movie_id))
        r = rows[0]
        return {"id": r[0], "start_time": _jsonable(r[1]), "customer_id": r[2], "movie_id": r[3]}

    def delete_session(self, sid: int) -> dict:
        with self._cursor() as cur:
            cur.execute("DELETE FROM sessions WHERE id = %s", (sid,))
            if cur.rowcount == 0:
                raise NotFound
        return {"deleted": sid}


class _Closed:
    """Stands in the pool for a connection that broke; replaced on next use."""
    closed = True
