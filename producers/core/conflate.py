"""Conflation of a fast stream of updates to the latest value per key, at most once per interval.

Used for the exchange's forming candles: Kraken sends the whole candle again after every trade
for every subscribed interval (six intervals turn 370 trades/s into 1,600 candle updates/s), yet a
reader of `md.ohlc.v1` needs only a live-enough view of each forming candle and, exactly, every
candle's final value (the processors reconcile their own candles against it).

Per key, a value goes out at once when the key has been quiet for `interval` or when it opens a
new window; otherwise it waits as the key's pending value and replaces any value pending before
it. A value of a new window first releases the pending value of the previous window: that is the
previous window's final value, so no window's last update is ever lost to conflation, and a key's
values go out in the order they arrived. `due()` releases the pending values whose interval has
passed (call it from a timer); `drain()` releases all of them (on disconnect or shutdown).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class _Key[V]:
    window: int
    """The window of the value sent last (or pending)."""
    sent_at: float
    pending: V | None = None


class Conflator[V]:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0, not {interval}")
        self.interval = interval
        self._clock = clock
        self._keys: dict[Hashable, _Key[V]] = {}
        self.conflated = 0
        """Values replaced before they went out (what conflation saved)."""

    def offer(self, key: Hashable, window: int, value: V) -> list[V]:
        """The values to send now, oldest first (empty when `value` waits)."""
        now = self._clock()
        state = self._keys.get(key)
        if state is None:
            self._keys[key] = _Key(window, now)
            return [value]
        out: list[V] = []
        if state.window != window:
            if state.pending is not None:
                out.append(state.pending)  # the final value of the previous window
                state.pending = None
            state.window, state.sent_at = window, now
            out.append(value)
            return out
        if now - state.sent_at >= self.interval:
            if state.pending is not None:
                self.conflated += 1  # the timer had not released it yet: `value` supersedes it
            state.sent_at, state.pending = now, None
            out.append(value)
            return out
        if state.pending is not None:
            self.conflated += 1
        state.pending = value
        return out

    def due(self) -> list[V]:
        """The pending values whose key has waited at least `interval` since its last send."""
        now = self._clock()
        out: list[V] = []
        for state in self._keys.values():
            if state.pending is not None and now - state.sent_at >= self.interval:
                out.append(state.pending)
                state.pending, state.sent_at = None, now
        return out

    def drain(self) -> list[V]:
        """Every pending value, now."""
        now = self._clock()
        out: list[V] = []
        for state in self._keys.values():
            if state.pending is not None:
                out.append(state.pending)
                state.pending, state.sent_at = None, now
        return out

    def forget(self, key: Hashable) -> V | None:
        """Drop a key (unsubscribed symbol); returns its pending value, if any."""
        state = self._keys.pop(key, None)
        return None if state is None else state.pending

    @property
    def pending(self) -> int:
        return sum(1 for state in self._keys.values() if state.pending is not None)
