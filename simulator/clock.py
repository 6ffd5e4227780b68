"""Time sources for the market model.

The model never reads the system clock itself: a `Clock` is injected so tests can pin "now" and
step time by hand, which makes a seeded run reproducible event for event.
"""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_S = 1_000_000_000


class Clock(Protocol):
    """Anything that can say what time it is, in integer nanoseconds since the epoch."""

    def now_ns(self) -> int: ...


class WallClock:
    """The real time, for the server."""

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to, for deterministic tests."""

    def __init__(self, start_ns: int) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> int:
        """Move forward by `seconds` and return the new time."""
        self._now += round(seconds * NS_PER_S)
        return self._now

    def set(self, now_ns: int) -> None:
        if now_ns < self._now:
            raise ValueError("a ManualClock never goes backwards")
        self._now = now_ns
