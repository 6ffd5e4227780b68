"""OHLC candles built from the model's own trades, plus a seeded history before the start.

Live candles are only ever changed by `CandleSeries.add_trade`, so every candle agrees with the
trades inside its interval. History (what REST OHLC returns for the 720 rows before the model
started) is drawn from the seed by one backward random walk: the finest intervals cover the most
recent stretch and every coarser interval aggregates the finer candles where they exist, so a
daily candle equals its hourly candles inside the window the hourly history covers. Weekly and
15-day candles do not nest (7 does not divide 15), so before the daily window they are drawn
separately; that is the only place two intervals can disagree.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable

INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
"""Every candle interval Kraken offers, in minutes."""

HISTORY_ROWS = 720
_CHAIN: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 1440)
_DAILY_ALIGN_MIN = 151_200  # lcm(10080, 21600): where both coarse intervals start a candle
_WALK_LIMIT = 3.0  # the history's log price stays within e**±3 of the start price


class Candle:
    """One interval: prices in ticks, volume in lots, notional in tick-lots (so vwap is exact)."""

    __slots__ = ("begin", "close", "high", "low", "notional", "open", "trades", "volume")

    def __init__(
        self,
        begin: int,
        open_: int,
        high: int,
        low: int,
        close: int,
        *,
        volume: int = 0,
        notional: int = 0,
        trades: int = 0,
    ) -> None:
        self.begin = begin  # epoch seconds
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.notional = notional
        self.trades = trades

    @classmethod
    def flat(cls, begin: int, price: int) -> Candle:
        """An interval without trades: the previous close carried, no volume."""
        return cls(begin, price, price, price, price)

    def vwap(self) -> float:
        """Volume-weighted average price in ticks (0.0 without volume, as Kraken sends it)."""
        return self.notional / self.volume if self.volume else 0.0

    def add(self, price: int, qty: int) -> None:
        if self.trades == 0 and self.volume == 0:
            self.open = self.high = self.low = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.notional += price * qty
        self.trades += 1

    def merge(self, later: Candle) -> None:
        """Extend this candle by a later, adjacent piece of the same interval."""
        self.high = max(self.high, later.high)
        self.low = min(self.low, later.low)
        self.close = later.close
        self.volume += later.volume
        self.notional += later.notional
        self.trades += later.trades

    def copy(self, begin: int | None = None) -> Candle:
        return Candle(
            self.begin if begin is None else begin,
            self.open,
            self.high,
            self.low,
            self.close,
            volume=self.volume,
            notional=self.notional,
            trades=self.trades,
        )

    def __repr__(self) -> str:
        return (
            f"Candle(begin={self.begin}, o={self.open}, h={self.high}, l={self.low}, "
            f"c={self.close}, v={self.volume}, n={self.trades})"
        )


class CandleSeries:
    """The most recent 720 candles of one interval; the last one may still be forming."""

    __slots__ = ("interval", "rows", "seconds")

    def __init__(self, interval: int, history: Iterable[Candle] = ()) -> None:
        self.interval = interval
        self.seconds = interval * 60
        self.rows: deque[Candle] = deque(history, maxlen=HISTORY_ROWS)

    def begin_of(self, ts_s: int) -> int:
        return ts_s - ts_s % self.seconds

    def add_trade(self, ts_s: int, price: int, qty: int) -> Candle:
        """Fold a trade into its interval's candle and return that candle."""
        begin = self.begin_of(ts_s)
        rows = self.rows
        if rows and rows[-1].begin >= begin:
            candle = rows[-1]
        else:
            candle = Candle(begin, price, price, price, price)
            rows.append(candle)
        candle.add(price, qty)
        return candle

    def last(self) -> Candle | None:
        return self.rows[-1] if self.rows else None

    def recent(self, count: int) -> list[Candle]:
        """The last `count` candles that exist (traded intervals only), oldest first."""
        rows = self.rows
        return [rows[i] for i in range(max(0, len(rows) - count), len(rows))]

    def window(self, now_s: int) -> list[Candle]:
        """The REST view: 720 rows ending with the interval forming at `now_s`, intervals
        without trades filled with flat candles (previous close, zero volume) as Kraken does."""
        current = self.begin_of(now_s)
        first = current - (HISTORY_ROWS - 1) * self.seconds
        out: list[Candle] = []
        prev: Candle | None = None
        for candle in self.rows:
            if candle.begin > current:
                break
            if prev is not None:
                self._fill(out, prev.close, max(prev.begin + self.seconds, first), candle.begin)
            if candle.begin >= first:
                out.append(candle)
            prev = candle
        if prev is not None:
            self._fill(out, prev.close, max(prev.begin + self.seconds, first), current + 1)
        return out[-HISTORY_ROWS:]

    def _fill(self, out: list[Candle], price: int, start: int, stop: int) -> None:
        for begin in range(start, stop, self.seconds):
            out.append(Candle.flat(begin, price))


class CandleStore:
    """All intervals of one instrument."""

    __slots__ = ("_closed", "series")

    def __init__(self, history: dict[int, list[Candle]] | None = None) -> None:
        history = history or {}
        self.series = {iv: CandleSeries(iv, history.get(iv, ())) for iv in INTERVALS}
        self._closed: tuple[int, int, Candle | None] = (-1, -1, None)

    def add_trade(self, ts_s: int, price: int, qty: int) -> None:
        for series in self.series.values():
            series.add_trade(ts_s, price, qty)

    def rolling(self, now_s: int, seconds: int) -> Candle | None:
        """One candle summarising roughly the last `seconds` (at five-minute resolution).

        The closed five-minute candles of the window are summed once per five minutes; only
        the forming one is added per call, because tickers ask on every trade."""
        five = self.series[5]
        current = five.begin_of(now_s)
        since = current - seconds + five.seconds
        if self._closed[:2] != (current, seconds):
            closed = aggregate_all(c for c in five.rows if since <= c.begin < current)
            self._closed = (current, seconds, closed)
        closed = self._closed[2]
        forming = five.last()
        if forming is None or forming.begin < current:
            return closed.copy() if closed else None
        if closed is None:
            return forming.copy()
        out = closed.copy()
        out.merge(forming)
        return out

    def today(self, now_s: int) -> Candle | None:
        """Since 00:00 UTC: the forming daily candle, if anything traded today."""
        daily = self.series[1440]
        last = daily.last()
        return last if last is not None and last.begin == daily.begin_of(now_s) else None


def aggregate_all(candles: Iterable[Candle]) -> Candle | None:
    out: Candle | None = None
    for candle in candles:
        if out is None:
            out = candle.copy()
        else:
            out.merge(candle)
    return out


def _aggregate(candles: list[Candle], seconds: int) -> list[Candle]:
    out: list[Candle] = []
    for candle in candles:
        begin = candle.begin - candle.begin % seconds
        if out and out[-1].begin == begin:
            out[-1].merge(candle)
        else:
            out.append(candle.copy(begin))
    return out


def _floor(value: int, step: int) -> int:
    return value - value % step


class _Walk:
    """A backward geometric random walk producing base candles (newest first)."""

    def __init__(
        self,
        rng: random.Random,
        anchor: int,
        sigma_per_s: float,
        lots_per_s: float,
        lots_per_trade: float,
    ) -> None:
        self.rng = rng
        self.anchor_log = math.log(anchor)
        self.sigma = sigma_per_s
        self.lots_per_s = lots_per_s
        self.lots_per_trade = lots_per_trade

    def candles(self, close: int, lo: int, hi: int, seconds: int) -> tuple[list[Candle], int]:
        """Candles covering [lo, hi) that end at price `close`; return them and the first open."""
        rng, out = self.rng, list[Candle]()
        sd = self.sigma * math.sqrt(seconds)
        for begin in range(hi - seconds, lo - 1, -seconds):
            step = sd * rng.gauss(0.0, 1.0)
            log_open = math.log(close) - step
            if abs(log_open - self.anchor_log) > _WALK_LIMIT:
                log_open = math.log(close) + step
            open_ = max(1, round(math.exp(log_open)))
            wick = math.exp(abs(rng.gauss(0.0, 1.0)) * sd * 0.5)
            high = max(open_, close, round(max(open_, close) * wick))
            low = max(1, min(open_, close, round(min(open_, close) / wick)))
            volume = max(1, round(self.lots_per_s * seconds * rng.lognormvariate(0.0, 0.5)))
            trades = max(1, round(volume / self.lots_per_trade))
            vwap = (open_ + high + low + close) / 4
            notional = round(vwap * volume)
            out.append(
                Candle(
                    begin, open_, high, low, close, volume=volume, notional=notional, trades=trades
                )
            )
            close = open_
        out.reverse()
        return out, close


def generate_history(
    rng: random.Random,
    end_s: int,
    close: int,
    *,
    sigma_per_s: float,
    lots_per_s: float,
    lots_per_trade: float,
) -> dict[int, list[Candle]]:
    """The last 720 candles of every interval before `end_s` (a minute boundary), ending at
    price `close` (ticks). Deterministic for a given `rng` state."""
    walk = _Walk(rng, close, sigma_per_s, lots_per_s, lots_per_trade)
    full: dict[int, list[Candle]] = {}
    hi, price = end_s, close
    finer: list[Candle] = []
    for index, interval in enumerate(_CHAIN):
        parent = _CHAIN[index + 1] if index + 1 < len(_CHAIN) else _DAILY_ALIGN_MIN
        lo = min(_floor(end_s - HISTORY_ROWS * interval * 60, parent * 60), _floor(hi, parent * 60))
        base, price = walk.candles(price, lo, hi, interval * 60)
        full[interval] = base + _aggregate(finer, interval * 60)
        finer, hi = full[interval], lo
    for interval in (10080, 21600):
        lo = _floor(end_s - HISTORY_ROWS * interval * 60, interval * 60)
        base, _ = walk.candles(price, lo, hi, interval * 60)
        full[interval] = base + _aggregate(full[1440], interval * 60)
    return {interval: rows[-HISTORY_ROWS:] for interval, rows in full.items()}
