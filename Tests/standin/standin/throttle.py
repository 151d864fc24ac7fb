"""The hard-coded RPSLimit of the real binary: a quota of `limit` requests per
one-second window per instance; the window's renewal is the "Quota updated."
of the log, a request over the quota the "Too many requests"."""

from __future__ import annotations

import threading
import time


class Quota:
    def __init__(self, limit: int, clock=time.monotonic) -> None:
        self.limit = limit          # 0 = no limit (a knob for tests, not bingo)
        self._clock = clock
        self._lock = threading.Lock()
        self._window = int(clock())
        self._used = 0

    def admit(self) -> tuple[bool, bool]:
        """(admitted, renewed): renewed is True on the first request of a new
        window that follows a used one, so the log line comes with traffic."""
        with self._lock:
            window = int(self._clock())
            renewed = False
            if window != self._window:
                renewed = self._used > 0
                self._window, self._used = window, 0
            if self.limit and self._used >= self.limit:
                return False, renewed
            self._used += 1
            return True, renewed
