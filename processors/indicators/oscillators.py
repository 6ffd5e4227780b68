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

from processors.indicators.moving import Ema


class Rsi:
    __slots__ = ("_alpha", "_diffs", "_gain", "_last", "_loss", "period")

    def __init__(self, period: int = 14) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._alpha = 1.0 / period
        self._last: float | None = None
        self._gain = 0.0
        self._loss = 0.0
        self._diffs = 0

    def _step(self, value: float) -> tuple[float, float, int] | None:
        if self._last is None:
            return None
        diff = value - self._last
        gain, loss = max(diff, 0.0), max(-diff, 0.0)
        if self._diffs == 0:
            return gain, loss, 1
        a = self._alpha
        return (1 - a) * self._gain + a * gain, (1 - a) * self._loss + a * loss, self._diffs + 1

    def _value(self, gain: float, loss: float, diffs: int) -> float | None:
        if diffs < self.period or gain + loss == 0:
            return None
        return 100.0 * gain / (gain + loss)

    def update(self, value: float) -> float | None:
        step = self._step(value)
        self._last = value
        if step is None:
            return None
        self._gain, self._loss, self._diffs = step
        return self._value(*step)

    def peek(self, value: float) -> float | None:
        step = self._step(value)
        return None if step is None else self._value(*step)


@dataclass(frozen=True, slots=True)
class MacdValue:
    macd: float
    signal: float | None
    histogram: float | None


class Macd:
    __slots__ = ("_fast", "_signal", "_slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if not 0 < fast < slow:
            raise ValueError("need 0 < fast < slow")
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)

    def update(self, value: float) -> MacdValue | None:
        fast, slow = self._fast.update(value), self._slow.update(value)
        if fast is None or slow is None:
            return None
        macd = fast - slow
        signal = self._signal.update(macd)
        return MacdValue(macd, signal, None if signal is None else macd - signal)

    def peek(self, value: float) -> MacdValue | None:
        fast, slow = self._fast.peek(value), self._slow.peek(value)
        if fast is None or slow is None:
            return None
        macd = fast - slow
        signal = self._signal.peek(macd)
        return MacdValue(macd, signal, None if signal is None else macd - signal)
