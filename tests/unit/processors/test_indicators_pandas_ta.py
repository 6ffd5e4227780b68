"""Every incremental indicator equals pandas-ta on the same closes (1e-9 relative after warm-up),
across thousands of random and real-looking series; peek() equals update() on the next value."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator

import msgspec
import numpy as np
import pandas as pd
import pytest

from processors.indicators import Bollinger, Ema, Macd, Rsi, Sma, VolumeProfile

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandas_ta as ta

REL = 1e-9


def series(seed: int) -> np.ndarray:
    """Random walks, GBM-like paths with jumps, flat stretches, tiny and huge magnitudes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 400))
    kind = seed % 5
    if kind == 0:  # GBM-like, BTC magnitude
        x = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    elif kind == 1:  # random walk with jumps
        x = 100 + np.cumsum(rng.normal(0, 1, n) + (rng.random(n) < 0.02) * rng.normal(0, 20, n))
        x = np.abs(x) + 1
    elif kind == 2:  # flat stretches (no trades: the close repeats)
        x = np.repeat(50 + np.cumsum(rng.normal(0, 0.5, n // 5 + 1)), 5)[:n]
    elif kind == 3:  # tiny prices (memecoins)
        x = 1e-5 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    else:  # rounded to a tick, as exchanges quote
        x = np.round(3000 + np.cumsum(rng.normal(0, 3, n)), 2)
    return np.asarray(x, dtype=float)


SEEDS = range(1500)


def close_enough(ours: float | None, theirs: float, scale: float) -> bool:
    if math.isnan(theirs):
        return ours is None
    return ours is not None and abs(ours - theirs) <= REL * max(abs(theirs), scale)


def compare(
    values: np.ndarray, expected: pd.Series, ours: Iterator[float | None], warm: int
) -> None:
    scale = float(np.max(np.abs(values)))
    for i, (mine, theirs) in enumerate(zip(ours, expected.to_numpy(), strict=True)):
        if i < warm:
            continue
        assert close_enough(mine, float(theirs), scale), (i, mine, theirs)


def stream(
    indicator: object, values: np.ndarray, pick: Callable[[object], float | None]
) -> Iterator[float | None]:
    for v in values:
        yield pick(indicator.update(float(v)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("period", [9, 21, 50])
def test_sma_and_ema(period: int) -> None:
    for seed in SEEDS:
        x = series(seed)
        if len(x) < period:
            continue
        close = pd.Series(x)
        compare(x, ta.sma(close, length=period), stream(Sma(period), x, lambda v: v), period - 1)
        compare(x, ta.ema(close, length=period), stream(Ema(period), x, lambda v: v), period - 1)


@pytest.mark.parametrize("period", [14, 7])
def test_rsi(period: int) -> None:
    for seed in SEEDS:
        x = series(seed)
        if len(x) < period + 1:
            continue
        compare(x, ta.rsi(pd.Series(x), length=period), stream(Rsi(period), x, lambda v: v), period)


def test_macd() -> None:
    for seed in SEEDS:
        x = series(seed)
        if len(x) < 40:
            continue
        df = ta.macd(pd.Series(x), fast=12, slow=26, signal=9)
        macd, hist, signal = (df[c] for c in df.columns)
        compare(x, macd, stream(Macd(), x, lambda v: v.macd if v else None), 25)  # type: ignore[attr-defined]
        compare(x, signal, stream(Macd(), x, lambda v: v.signal if v else None), 33)  # type: ignore[attr-defined]
        compare(x, hist, stream(Macd(), x, lambda v: v.histogram if v else None), 33)  # type: ignore[attr-defined]


def test_bollinger() -> None:
    for seed in SEEDS:
        x = series(seed)
        if len(x) < 20:
            continue
        df = ta.bbands(pd.Series(x), length=20, lower_std=2.0, upper_std=2.0)
        lower, middle, upper = df.iloc[:, 0], df.iloc[:, 1], df.iloc[:, 2]
        for column, pick in ((lower, "lower"), (middle, "middle"), (upper, "upper")):
            compare(
                x,
                column,
                stream(Bollinger(20, 2.0), x, lambda v, p=pick: getattr(v, p) if v else None),
                19,
            )


def _flat(v: object) -> list[float | None]:
    if v is None or isinstance(v, float):
        return [v]
    return [getattr(v, f) for f in v.__slots__]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "make",
    [lambda: Sma(10), lambda: Ema(10), lambda: Rsi(14), Macd, lambda: Bollinger(20, 2.0)],
)
def test_peek_equals_update_and_changes_nothing(make: Callable[[], object]) -> None:
    x = [float(v) for v in series(1)[:80]]
    indicator = make()
    for i, v in enumerate(x):
        forming = v * 1.001
        peeked = indicator.peek(forming)  # type: ignore[attr-defined]
        assert _flat(indicator.peek(forming)) == _flat(peeked)  # type: ignore[attr-defined]
        shadow = make()
        for w in x[:i]:
            shadow.update(w)  # type: ignore[attr-defined]
        for a, b in zip(_flat(shadow.update(forming)), _flat(peeked), strict=True):  # type: ignore[attr-defined]
            assert (a is None and b is None) or (
                a is not None and b is not None and abs(a - b) <= 1e-12 * max(abs(a), 1.0)
            )
        indicator.update(v)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sma(10),
        lambda: Ema(10),
        lambda: Rsi(14),
        Macd,
        lambda: Bollinger(20, 2.0),
        lambda: VolumeProfile(8, 10),
    ],
)
def test_state_survives_a_msgpack_round_trip_at_any_point(make: Callable[[], object]) -> None:
    """What a processor stores in its changelog and recovers after a crash continues exactly as
    the uninterrupted indicator would."""
    x = [float(v) for v in series(3)[:120]]

    def feed(indicator: object, v: float) -> object:
        if isinstance(indicator, VolumeProfile):
            return indicator.update(v * 1.01, v * 0.99, v, 1.5)
        return indicator.update(v)  # type: ignore[attr-defined]

    for cut in (0, 5, 19, 20, 21, 57, 119):
        straight, interrupted = make(), make()
        for v in x[:cut]:
            feed(straight, v)
            feed(interrupted, v)
        restored = msgspec.msgpack.decode(
            msgspec.msgpack.encode(interrupted), type=type(interrupted)
        )
        assert restored == interrupted
        for v in x[cut:]:
            assert feed(restored, v) == feed(straight, v)
