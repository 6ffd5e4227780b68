"""Bollinger Bands as pandas-ta computes them: SMA(n) ± k * sample standard deviation (ddof 1).

The window's mean and sum of squared deviations are updated in O(1) when a value enters and the
oldest leaves (Welford's update for a sliding window), and recomputed exactly once per window so
rounding cannot accumulate.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BollingerValue:
    lower: float
    middle: float
    upper: float


class Bollinger:
    __slots__ = ("_count", "_m2", "_mean", "_window", "period", "stddev")

    def __init__(self, period: int = 20, stddev: float = 2.0) -> None:
        if period < 2:
            raise ValueError("period must be at least 2 (a sample deviation needs two values)")
        self.period = period
        self.stddev = stddev
        self._window: deque[float] = deque(maxlen=period)
        self._mean = 0.0
        self._m2 = 0.0
        self._count = 0

    def _next(self, value: float) -> tuple[float, float]:
        n = len(self._window)
        if n < self.period:  # growing: plain Welford
            delta = value - self._mean
            mean = self._mean + delta / (n + 1)
            return mean, self._m2 + delta * (value - mean)
        oldest = self._window[0]
        mean = self._mean + (value - oldest) / n
        return mean, self._m2 + (value - oldest) * (value - mean + oldest - self._mean)

    def _bands(self, mean: float, m2: float) -> BollingerValue:
        deviation = self.stddev * math.sqrt(max(m2, 0.0) / (self.period - 1))
        return BollingerValue(mean - deviation, mean, mean + deviation)

    def update(self, value: float) -> BollingerValue | None:
        self._mean, self._m2 = self._next(value)
        self._window.append(value)
        self._count += 1
        if self._count % self.period == 0:  # exact recompute once per window
            self._mean = math.fsum(self._window) / len(self._window)
            self._m2 = math.fsum((x - self._mean) ** 2 for x in self._window)
        if len(self._window) < self.period:
            return None
        return self._bands(self._mean, self._m2)

    def peek(self, value: float) -> BollingerValue | None:
        if len(self._window) < self.period - 1:
            return None
        return self._bands(*self._next(value))
