"""How an instance dies: after its lifetime, or when POST /operation asks.

Every random choice comes from one seeded random.Random, so a test that
passes the seed of a run (it is in the log and on stderr) replays it.
"""

from __future__ import annotations

import random
import sys
import threading
import time

DEATHS = ("exit", "panic", "sick", "leak")
# (operation & 0xF00000000) >> 32, bingo.md: bits 32-35 of the value.
OPERATION_MASK = 0xF00000000
NIBBLE_DEATH = {3: "leak", 4: "panic", 5: "sick"}


def operation_death(value: int) -> str | None:
    return NIBBLE_DEATH.get((value & OPERATION_MASK) >> 32)


def parse_lifetime(text: str) -> tuple[float, float] | None:
    """"LO-HI" or "S" in seconds; "never" (a knob for tests that are about
    something else) gives None."""
    if text in ("never", "inf", "0"):
        return None
    lo, _, hi = text.partition("-")
    lo_f, hi_f = float(lo), float(hi or lo)
    if lo_f <= 0 or hi_f < lo_f:
        raise ValueError(f"lifetime {text!r}: want LO-HI seconds with 0 < LO <= HI")
    return lo_f, hi_f


class Fate:
    """The chosen lifetime and death, and the dying itself."""

    def __init__(self, rng: random.Random, lifetime: tuple[float, float] | None,
                 deaths: tuple[str, ...], log, exit_status: int,
                 leak_mb_per_s: float, leak_ms_per_mb: float, exit_fn) -> None:
        # Both draws happen here, first, so they depend on the seed only.
        self.lifetime = rng.uniform(*lifetime) if lifetime else None
        self.death = rng.choice(deaths) if deaths else None
        self.sick = False
        self.leaked: list[bytearray] = []
        self._log = log
        self._exit_status = exit_status
        self._leak_rate = leak_mb_per_s
        self._ms_per_mb = leak_ms_per_mb
        self._exit = exit_fn          # os._exit in production, for the whole process
        self._leaking = threading.Event()

    def start_clock(self) -> None:
        if self.lifetime is None or self.death is None:
            return
        t = threading.Timer(self.lifetime, self.die, args=(self.death, "lifetime over"))
        t.daemon = True
        t.start()

    def die(self, how: str, why: str) -> None:
        self._log.error("Dying.", how=how, reason=why)
        if how == "exit":
            self._exit(self._exit_status)
        elif how == "panic":
            # What a Go panic looks like on stderr; Go exits with status 2.
            sys.stderr.write("panic: We all gonna die\n\ngoroutine 1 [running]:\nmain.main()\n")
            sys.stderr.flush()
            self._exit(2)
        elif how == "sick":
            self.sick = True
        elif how == "leak" and not self._leaking.is_set():
            self._leaking.set()
            threading.Thread(target=self._leak, daemon=True).start()

    def _leak(self) -> None:
        # 1 MiB chunks filled with non-zero bytes, so every page is really
        # resident (a zero-filled allocation may stay virtual).
        step = 1.0 / self._leak_rate
        next_at = time.monotonic()
        while True:
            self.leaked.append(bytearray(b"\xa5") * (1 << 20))
            next_at += step
            time.sleep(max(0.0, next_at - time.monotonic()))

    def slowdown(self) -> float:
        """Extra seconds per request while leaking: answers slow as it grows."""
        return len(self.leaked) * self._ms_per_mb / 1000.0
