"""Bollinger Bands as pandas-ta computes them: SMA(n) ± k * sample standard deviation (ddof 1).

The window's mean and sum of squared deviations are updated in O(1) when a value enters and the
oldest leaves (Welford's update for a sliding window), and recomputed exactly once per window so
rounding cannot accumulate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from processors.indicators.ring import Ring


@dataclass(frozen=True, slots=True)
class BollingerValue:
    lower: float
    middle: float
    upper: float


class Bollinger(msgspec.Struct):
    period: int = 20
    stddev: float = 2.0
    window: Ring = msgspec.field(default_factory=lambda: Ring(1))
    mean: float = 0.0
    m2: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if self.period < 2:
            raise ValueError("period must be at least 2 (a sample deviation needs two values)")
        if self.window.size != self.period:
            self.window = Ring(self.period)

    def _next(self, value: float) -> tuple[float, float]:
        n = len(self.window)
        if n < self.period:  # growing: plain Welford
            delta = value - self.mean
            mean = self.mean + delta / (n + 1)
            return mean, self.m2 + delta * (value - mean)
        oldest = self.window.oldest
        mean = self.mean + (value - oldest) / n
        return mean, self.m2 + (value - oldest) * (value - mean + oldest - self.mean)

    def _bands(self, mean: float, m2: float) -> BollingerValue:
        deviation = self.stddev * math.sqrt(max(m2, 0.0) / (self.period - 1))
        return BollingerValue(mean - deviation, mean, mean + deviation)

    def update(self, value: float) -> BollingerValue | None:
        self.mean, self.m2 = self._next(value)
        self.window.push(value)
        self.count += 1
        if self.count % self.period == 0:  # exact recompute once per window
            values = self.window.values
            self.mean = math.fsum(values) / len(values)
            self.m2 = math.fsum((x - self.mean) ** 2 for x in values)
        if not self.window.full:
            return None
        return self._bands(self.mean, self.m2)

    def peek(self, value: float) -> BollingerValue | None:
        if len(self.window) < self.period - 1:
            return None
        return self._bands(*self._next(value))
