"""A short, rule-based reading of an indicator set, for agents: pure, no I/O.

The rules are the textbook ones (RSI 70/30, MACD histogram sign, price against the Bollinger
bands, short EMA against long EMA, price against the longest SMA); each contributes a signal
sentence and a vote, and the votes give the bias. It is a summary for a language model to reason
from, not a trading signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.models import IndicatorSet

Bias = Literal["bullish", "bearish", "neutral"]
OVERBOUGHT = 70.0
OVERSOLD = 30.0


@dataclass(frozen=True, slots=True)
class Reading:
    bias: Bias
    signals: list[str]

    @property
    def summary(self) -> str:
        return f"{self.bias}: " + "; ".join(self.signals) if self.signals else "no indicators yet"


def interpret(ind: IndicatorSet, price: float | None) -> Reading:
    votes_and_signals = [
        _rsi(ind.rsi),
        _macd(ind.macd_hist),
        _bollinger(price, ind.bb_upper, ind.bb_lower),
        _ema(ind.ema),
        _sma(price, ind.sma),
    ]
    found = [vs for vs in votes_and_signals if vs is not None]
    score = sum(vote for vote, _ in found)
    bias: Bias = "bullish" if score > 0 else "bearish" if score < 0 else "neutral"
    return Reading(bias, [signal for _, signal in found])


def percent_b(price: float | None, upper: float | None, lower: float | None) -> float | None:
    """Where the price sits in the bands: 0 at the lower, 1 at the upper band."""
    if price is None or upper is None or lower is None or upper <= lower:
        return None
    return (price - lower) / (upper - lower)


def _rsi(rsi: float | None) -> tuple[int, str] | None:
    if rsi is None:
        return None
    if rsi >= OVERBOUGHT:
        return -1, f"RSI {rsi:.1f} is overbought (>= 70)"
    if rsi <= OVERSOLD:
        return 1, f"RSI {rsi:.1f} is oversold (<= 30)"
    return 0, f"RSI {rsi:.1f} is neutral"


def _macd(hist: float | None) -> tuple[int, str] | None:
    if hist is None:
        return None
    if hist > 0:
        return 1, f"MACD above its signal line (histogram {hist:.4g}): bullish momentum"
    if hist < 0:
        return -1, f"MACD below its signal line (histogram {hist:.4g}): bearish momentum"
    return 0, "MACD on its signal line"


def _bollinger(
    price: float | None, upper: float | None, lower: float | None
) -> tuple[int, str] | None:
    b = percent_b(price, upper, lower)
    if b is None:
        return None
    if b > 1:
        return -1, "price above the upper Bollinger band: stretched, mean reversion likely"
    if b < 0:
        return 1, "price below the lower Bollinger band: stretched, mean reversion likely"
    return 0, f"price inside the Bollinger bands ({b:.0%} of the way from lower to upper)"


def _ema(ema: dict[str, float]) -> tuple[int, str] | None:
    periods = sorted(ema, key=_period)
    if len(periods) < 2:
        return None
    short, long = periods[0], periods[-1]
    if ema[short] > ema[long]:
        return 1, f"EMA{short} above EMA{long}: uptrend"
    return -1, f"EMA{short} below EMA{long}: downtrend"


def _sma(price: float | None, sma: dict[str, float]) -> tuple[int, str] | None:
    if price is None or not sma:
        return None
    longest = max(sma, key=_period)
    if price > sma[longest]:
        return 1, f"price above SMA{longest}"
    return -1, f"price below SMA{longest}"


def _period(name: str) -> int:
    return int(name) if name.isdigit() else 0
