"""RSI and MACD, as pandas-ta computes them (without TA-Lib).

- RSI(n): gains and losses of consecutive closes smoothed with Wilder's RMA (pandas
  `ewm(alpha=1/n, adjust=False)`, seeded with the first difference), `100 * gain / (gain + loss)`.
  pandas-ta starts the smoothing at the second value; we report from the n-th difference on
  (the usual warm-up), with identical values from there.
- MACD(fast, slow, signal): EMA(fast) - EMA(slow) once both exist; the signal is an EMA (seeded
  with an SMA, as pandas-ta's ema) of the MACD values from the first one; histogram = macd - signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from processors.indicators.moving import Ema


class Rsi(msgspec.Struct):
    period: int = 14
    last: float | None = None
    gain: float = 0.0
    loss: float = 0.0
    diffs: int = 0

    def __post_init__(self) -> None:
        if self.period < 1:
            raise ValueError("period must be at least 1")

    def _step(self, value: float) -> tuple[float, float, int] | None:
        if self.last is None:
            return None
        diff = value - self.last
        gain, loss = max(diff, 0.0), max(-diff, 0.0)
        if self.diffs == 0:
            return gain, loss, 1
        a = 1.0 / self.period
        return (1 - a) * self.gain + a * gain, (1 - a) * self.loss + a * loss, self.diffs + 1

    def _value(self, gain: float, loss: float, diffs: int) -> float | None:
        if diffs < self.period or gain + loss == 0:
            return None
        return 100.0 * gain / (gain + loss)

    def update(self, value: float) -> float | None:
        step = self._step(value)
        self.last = value
        if step is None:
            return None
        self.gain, self.loss, self.diffs = step
        return self._value(*step)

    def peek(self, value: float) -> float | None:
        step = self._step(value)
        return None if step is None else self._value(*step)


@dataclass(frozen=True, slots=True)
class MacdValue:
    macd: float
    signal: float | None
    histogram: float | None


class Macd(msgspec.Struct):
    fast: Ema = msgspec.field(default_factory=lambda: Ema(12))
    slow: Ema = msgspec.field(default_factory=lambda: Ema(26))
    signal: Ema = msgspec.field(default_factory=lambda: Ema(9))

    def __post_init__(self) -> None:
        if not 0 < self.fast.period < self.slow.period:
            raise ValueError("need 0 < fast < slow")

    @classmethod
    def of(cls, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
        return cls(Ema(fast), Ema(slow), Ema(signal))

    def update(self, value: float) -> MacdValue | None:
        fast, slow = self.fast.update(value), self.slow.update(value)
        if fast is None or slow is None:
            return None
        macd = fast - slow
        signal = self.signal.update(macd)
        return MacdValue(macd, signal, None if signal is None else macd - signal)

    def peek(self, value: float) -> MacdValue | None:
        fast, slow = self.fast.peek(value), self.slow.peek(value)
        if fast is None or slow is None:
            return None
        macd = fast - slow
        signal = self.signal.peek(macd)
        return MacdValue(macd, signal, None if signal is None else macd - signal)
