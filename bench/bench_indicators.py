"""Incremental indicators vs recomputing with pandas-ta on every new candle.

A processor updates RSI(14), MACD(12,26,9), Bollinger(20,2), EMA(9/21/50/200) and SMA(9/21/50/200)
each time a candle closes. Recomputing with pandas-ta means running each indicator over the whole
history again; the incremental state does O(1) work. Both run here on the same 2,000-candle history
plus N new candles, and the final values are checked to agree.

    .venv/bin/python bench/bench_indicators.py [--history 2000] [--updates 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from processors.indicators import Bollinger, Ema, Macd, Rsi, Sma

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandas_ta as ta

PERIODS = (9, 21, 50, 200)


def incremental(history: np.ndarray, new: np.ndarray) -> tuple[float, dict[str, float | None]]:
    rsi, macd, bb = Rsi(14), Macd(), Bollinger(20, 2.0)
    emas, smas = [Ema(p) for p in PERIODS], [Sma(p) for p in PERIODS]
    indicators = [rsi, macd, bb, *emas, *smas]
    for value in history:
        for ind in indicators:
            ind.update(float(value))
    started = time.perf_counter()
    for value in new:
        r = rsi.update(float(value))
        m = macd.update(float(value))
        b = bb.update(float(value))
        e = [x.update(float(value)) for x in emas]
        s = [x.update(float(value)) for x in smas]
    elapsed = time.perf_counter() - started
    assert m is not None
    assert b is not None
    return elapsed, {
        "rsi": r,
        "macd": m.macd,
        "bb_upper": b.upper,
        "ema200": e[-1],
        "sma200": s[-1],
    }


def recompute(history: np.ndarray, new: np.ndarray) -> tuple[float, dict[str, float | None]]:
    values = list(history)
    started = time.perf_counter()
    for value in new:
        values.append(float(value))
        close = pd.Series(values)
        r = ta.rsi(close, length=14)
        m = ta.macd(close)
        b = ta.bbands(close, length=20, lower_std=2.0, upper_std=2.0)
        e = [ta.ema(close, length=p) for p in PERIODS]
        s = [ta.sma(close, length=p) for p in PERIODS]
    elapsed = time.perf_counter() - started
    return elapsed, {
        "rsi": float(r.iloc[-1]),
        "macd": float(m.iloc[-1, 0]),
        "bb_upper": float(b.iloc[-1, 2]),
        "ema200": float(e[-1].iloc[-1]),
        "sma200": float(s[-1].iloc[-1]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=int, default=2000)
    ap.add_argument("--updates", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(5)
    closes = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.002, args.history + args.updates)))
    history, new = closes[: args.history], closes[args.history :]
    ours, ours_values = incremental(history, new)
    theirs, their_values = recompute(history, new)
    for name, value in ours_values.items():
        assert value is not None
        assert abs(value - their_values[name]) <= 1e-9 * max(1.0, abs(value)), name
    print(f"{args.updates} closed candles on a {args.history}-candle history, 13 indicator series")
    print(f"incremental: {args.updates / ours:,.0f} candles/s")
    print(f"pandas-ta recompute: {args.updates / theirs:,.1f} candles/s")
    print(f"ratio: {theirs / ours:,.0f}x, same final values (1e-9 relative)")


if __name__ == "__main__":
    main()
