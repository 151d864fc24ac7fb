"""--no-db: a small in-memory data set with fixed latencies, for tests of
the front (nginx, vipd's checks) that are not about the database and cannot
run a PostgreSQL per node. The real binary has no such mode: with it the
stand-in is kind on purpose, and each consumer says why it asks for it."""

from __future__ import annotations

import random
import threading
import time

from .db import NotFound


class MemoryDatabase:
    host = ("memory", 0)

    def __init__(self, seed: int) -> None:
        rnd = random.Random(seed)
        self._sleep_rng = random.Random(seed + 1)
        self._lock = threading.Lock()
        self._movies = {i: {"id": i, "name": f"Movie {i}", "year": 1950 + rnd.randrange(74),
                            "duration": 80 + rnd.randrange(100)} for i in range(1, 201)}
        self._customers = {i: {"id": i, "name": f"Name{i}", "surname": f"Surname{rnd.randrange(1000)}",
                               "birthday": f"{1950 + rnd.randrange(55)}-{1 + rnd.randrange(12):02d}-"
                                           f"{1 + rnd.randrange(28):02d}",
                               "email": f"customer{i}@example.com"} for i in range(1, 201)}
        self._sessions = {i: {"id": i, "start_time": f"2023-{1 + rnd.randrange(12):02d}-"
                                                     f"{1 + rnd.randrange(28):02d}T12:00:00",
                              "customer_id": 1 + rnd.randrange(200), "movie_id": 1 + rnd.randrange(200)}
                          for i in range(1, 501)}
        self._next_id = 501

    def _sleep(self, lo: float, hi: float) -> None:
        with self._lock:
            d = self._sleep_rng.uniform(lo, hi)
        time.sleep(d)

    def _get(self, table: dict, item: int | None, lo: float, hi: float):
        self._sleep(lo, hi)
        with self._lock:
            if item is None:
                return list(table.values())
            if item not in table:
                raise NotFound
            return dict(table[item])

    def sessions(self, sid=None):
        return self._get(self._sessions, sid, *((0.02, 0.05) if sid is None else (0.001, 0.005)))

    def customers(self, cid=None):
        return self._get(self._customers, cid, *((0.02, 0.05) if cid is None else (0.001, 0.005)))

    def movies(self, mid=None):
        return self._get(self._movies, mid, *((0.02, 0.05) if mid is None else (0.001, 0.005)))

    def db_dummy(self):
        time.sleep(0.1)   # what pg_sleep(0.1) costs
        return {"status": "ok"}

    def create_session(self, start_time: str, customer_id: int, movie_id: int) -> dict:
        self._sleep(0.003, 0.01)
        with self._lock:
            sid, self._next_id = self._next_id, self._next_id + 1
            self._sessions[sid] = {"id": sid, "start_time": start_time,
                                   "customer_id": customer_id, "movie_id": movie_id}
            return dict(self._sessions[sid])

    def delete_session(self, sid: int) -> dict:
        with self._lock:
            if self._sessions.pop(sid, None) is None:
                raise NotFound
        return {"deleted": sid}
