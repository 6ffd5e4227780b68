"""Rate limits before sending: the configured budget and Kraken's REST call counter.

`ClientLimiter` enforces requestsPerSecond and requestsPerMinute together (aiolimiter's leaky
buckets). `KrakenCallCounter` models Kraken's per-key counter (+cost per call, continuous decay,
a ceiling per tier) so we wait before Kraken would refuse, and slows down adaptively after a
rate-limit answer anyway (multiplicative decrease, gradual recovery).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from aiolimiter import AsyncLimiter


class ClientLimiter:
    """`async with limiter:` waits for a slot in both the per-second and per-minute budgets."""

    def __init__(self, per_second: float, per_minute: float) -> None:
        self._second = AsyncLimiter(per_second, 1)
        self._minute = AsyncLimiter(per_minute, 60)

    async def __aenter__(self) -> None:
        await self._minute.acquire()
        await self._second.acquire()

    async def __aexit__(
        self,
        _t: type[BaseException] | None,
        _e: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        return None


@dataclass(frozen=True, slots=True)
class CounterTier:
    maximum: float
    decay_per_second: float


STARTER = CounterTier(15, 0.33)
INTERMEDIATE = CounterTier(20, 0.5)
PRO = CounterTier(20, 1.0)


class KrakenCallCounter:
    def __init__(
        self,
        tier: CounterTier = STARTER,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tier = tier
        self._clock = clock
        self._counter = 0.0
        self._at = clock()
        self._slowdown = 1.0  # >1 after rate-limit answers: decay assumed slower than nominal

    def _decayed(self) -> float:
        now = self._clock()
        decay = self.tier.decay_per_second / self._slowdown
        self._counter = max(0.0, self._counter - decay * (now - self._at))
        self._at = now
        return self._counter

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds to wait before a call of `cost` stays under the ceiling (0: go now)."""
        excess = self._decayed() + cost - self.tier.maximum
        if excess <= 0:
            return 0.0
        return excess / (self.tier.decay_per_second / self._slowdown)

    def spend(self, cost: float = 1.0) -> None:
        self._decayed()
        self._counter += cost
        # Every call that went through lets the slowdown recover a little.
        self._slowdown = max(1.0, self._slowdown * 0.95)

    def rate_limited(self) -> None:
        """The exchange refused a call: assume the counter is full and halve our pace."""
        self._decayed()
        self._counter = self.tier.maximum
        self._slowdown = min(8.0, self._slowdown * 2)

    async def acquire(self, cost: float = 1.0) -> None:
        while (delay := self.wait_time(cost)) > 0:  # noqa: ASYNC110 - a computed wait, no event
            await asyncio.sleep(delay)
        self.spend(cost)

    @property
    def used(self) -> float:
        """Fraction of the ceiling in use, 0..1, for status reports."""
        return min(1.0, self._decayed() / self.tier.maximum)
