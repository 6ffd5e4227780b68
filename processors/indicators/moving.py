"""Simple and exponential moving averages, as pandas-ta computes them (without TA-Lib).

- SMA(n): the mean of the last n values; None until n values were seen.
- EMA(n): pandas-ta's default `presma=True`: the first value is the SMA of the first n values,
  then `ema += alpha * (x - ema)` with alpha = 2 / (n + 1) (pandas `ewm(span=n, adjust=False)`).
"""

from __future__ import annotations

import math
from collections import deque


class Sma:
    """Running sum over a fixed window, re-summed exactly once per window to stop float drift."""

    __slots__ = ("_count", "_sum", "_window", "period")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._window: deque[float] = deque(maxlen=period)
        self._sum = 0.0
        self._count = 0

    def update(self, value: float) -> float | None:
        if len(self._window) == self.period:
            self._sum -= self._window[0]
        self._window.append(value)
        self._sum += value
        self._count += 1
        if self._count % self.period == 0:  # amortized O(1): one exact re-sum per window
            self._sum = math.fsum(self._window)
        return self._sum / self.period if len(self._window) == self.period else None

    def peek(self, value: float) -> float | None:
        if len(self._window) < self.period - 1:
            return None
        oldest = self._window[0] if len(self._window) == self.period else 0.0
        return (self._sum - oldest + value) / self.period


class Ema:
    __slots__ = ("_alpha", "_seed", "_value", "period")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._alpha = 2.0 / (period + 1)
        self._seed: list[float] = []
        self._value: float | None = None

    @property
    def value(self) -> float | None:
        return self._value

    def update(self, value: float) -> float | None:
        if self._value is None:
            self._seed.append(value)
            if len(self._seed) == self.period:
                self._value = math.fsum(self._seed) / self.period
                self._seed = []
            return self._value
        self._value = (1 - self._alpha) * self._value + self._alpha * value
        return self._value

    def peek(self, value: float) -> float | None:
        if self._value is None:
            if len(self._seed) + 1 < self.period:
                return None
            return math.fsum([*self._seed, value]) / self.period
        return (1 - self._alpha) * self._value + self._alpha * value
