"""Simple and exponential moving averages, as pandas-ta computes them (without TA-Lib).

- SMA(n): the mean of the last n values; None until n values were seen.
- EMA(n): pandas-ta's default `presma=True`: the first value is the SMA of the first n values,
  then `ema += alpha * (x - ema)` with alpha = 2 / (n + 1) (pandas `ewm(span=n, adjust=False)`).

Both are msgspec Structs: a processor stores them in its changelog-backed tables as they are.
"""

from __future__ import annotations

import math

import msgspec

from processors.indicators.ring import Ring


class Sma(msgspec.Struct):
    """Running sum over a fixed window, re-summed exactly once per window to stop float drift."""

    period: int
    window: Ring = msgspec.field(default_factory=lambda: Ring(1))
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if self.period < 1:
            raise ValueError("period must be at least 1")
        if self.window.size != self.period:
            self.window = Ring(self.period)

    def update(self, value: float) -> float | None:
        if self.window.full:
            self.total -= self.window.oldest
        self.window.push(value)
        self.total += value
        self.count += 1
        if self.count % self.period == 0:  # amortized O(1): one exact re-sum per window
            self.total = math.fsum(self.window.values)
        return self.total / self.period if self.window.full else None

    def peek(self, value: float) -> float | None:
        if len(self.window) < self.period - 1:
            return None
        oldest = self.window.oldest if self.window.full else 0.0
        return (self.total - oldest + value) / self.period


class Ema(msgspec.Struct):
    period: int
    seed: list[float] = msgspec.field(default_factory=list)
    value: float | None = None

    def __post_init__(self) -> None:
        if self.period < 1:
            raise ValueError("period must be at least 1")

    @property
    def alpha(self) -> float:
        return 2.0 / (self.period + 1)

    def update(self, value: float) -> float | None:
        if self.value is None:
            self.seed.append(value)
            if len(self.seed) == self.period:
                self.value = math.fsum(self.seed) / self.period
                self.seed = []
            return self.value
        a = self.alpha
        self.value = (1 - a) * self.value + a * value
        return self.value

    def peek(self, value: float) -> float | None:
        if self.value is None:
            if len(self.seed) + 1 < self.period:
                return None
            return math.fsum([*self.seed, value]) / self.period
        a = self.alpha
        return (1 - a) * self.value + a * value
