"""Candles from trades: tumbling windows by exchange time, with a grace period for late trades.

Pure and deterministic (no clock, no I/O, no faust): the output depends only on the trades fed
in, so a processor that replays its input after a crash emits the same closed candles again, and
keyed, compacted outputs overwrite rather than duplicate.

- Windows are aligned to the Unix epoch in UTC: `open_ts = ts - ts % length`, so days start at
  00:00 UTC and 4h candles at 00, 04, 08 … UTC.
- The watermark is the newest exchange time seen. A window closes once the watermark passes its
  end plus the grace period; until then a late trade still lands in it. A trade for a window that
  has already closed is late beyond grace: it is counted and dropped (never reopens a candle).
- Every trade emits its window's candle as it forms (`closed=False`); closing emits it once more
  with `closed=True`. A window without trades produces no candle, as on the exchanges.
"""

from __future__ import annotations

from typing import Final

import msgspec

from schemas.models import OHLCV, CandleSource, Trade

MINUTE_US: Final = 60_000_000
TIMEFRAME_US: Final = {
    "1m": MINUTE_US,
    "5m": 5 * MINUTE_US,
    "15m": 15 * MINUTE_US,
    "1h": 60 * MINUTE_US,
    "4h": 240 * MINUTE_US,
    "1d": 1440 * MINUTE_US,
}


class Window(msgspec.Struct, array_like=True):
    open_ts: int
    first_ts: int  # exchange time of the trade that set `open`
    last_ts: int  # exchange time of the trade that set `close`
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    notional: float = 0.0
    trades: int = 0

    def add(self, price: float, qty: float, ts: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        if ts >= self.last_ts:  # a late trade inside the window never moves the close back
            self.close, self.last_ts = price, ts
        if ts < self.first_ts:  # ... but an earlier one does become the open
            self.open, self.first_ts = price, ts
        self.volume += qty
        self.notional += price * qty
        self.trades += 1


class CandleBuilder(msgspec.Struct):
    """Candles of one instrument and one timeframe; a msgspec Struct, so a processor stores it in
    its changelog-backed table as it is and recovers it exactly."""

    exchange: str
    symbol: str
    timeframe: str
    grace_us: int = 5_000_000
    price_precision: int = 8
    size_precision: int = 8
    watermark: int = 0
    late_dropped: int = 0
    windows: dict[int, Window] = msgspec.field(default_factory=dict)
    closed_through: int = -1  # open_ts of the newest window already closed
    first_open_ts: int | None = None
    """The first window this builder saw: it may miss the trades before the feed started."""

    @property
    def length_us(self) -> int:
        return TIMEFRAME_US[self.timeframe]

    def add(self, trade: Trade) -> list[OHLCV]:
        """Feed one trade; returns the candles to emit (its forming candle, then any closes)."""
        ts, length = trade.exchange_ts, self.length_us
        open_ts = ts - ts % length
        if open_ts <= self.closed_through:
            self.late_dropped += 1
            return self._advance(ts)
        window = self.windows.get(open_ts)
        if window is None:
            p = trade.price
            window = self.windows[open_ts] = Window(open_ts, ts, ts, p, p, p, p)
            if self.first_open_ts is None:
                self.first_open_ts = open_ts
        window.add(trade.price, trade.qty, ts)
        out = [self._candle(window, closed=False, received_ts=trade.received_ts)]
        out += self._advance(ts, received_ts=trade.received_ts)
        return out

    def advance(self, now_us: int) -> list[OHLCV]:
        """Close windows by the passage of time alone (no trade arrives in a quiet market)."""
        return self._advance(now_us)

    def _advance(self, ts: int, received_ts: int | None = None) -> list[OHLCV]:
        self.watermark = max(self.watermark, ts)
        closed: list[OHLCV] = []
        for open_ts in sorted(self.windows):
            if open_ts + self.length_us + self.grace_us > self.watermark:
                break
            window = self.windows.pop(open_ts)
            self.closed_through = max(self.closed_through, open_ts)
            closed.append(
                self._candle(window, closed=True, received_ts=received_ts or self.watermark)
            )
        return closed

    def _candle(self, w: Window, *, closed: bool, received_ts: int) -> OHLCV:
        return OHLCV(
            exchange=self.exchange,
            symbol=self.symbol,
            timeframe=self.timeframe,
            open_ts=w.open_ts,
            open=w.open,
            high=w.high,
            low=w.low,
            close=w.close,
            volume=w.volume,
            trades=w.trades,
            vwap=w.notional / w.volume if w.volume else w.close,
            closed=closed,
            source=CandleSource.AGGREGATED,
            exchange_ts=w.last_ts,
            received_ts=received_ts,
            price_precision=self.price_precision,
            size_precision=self.size_precision,
        )

    def forming(self) -> OHLCV | None:
        """The newest open window's candle as it stands (None when no window is open)."""
        if not self.windows:
            return None
        window = self.windows[max(self.windows)]
        return self._candle(window, closed=False, received_ts=self.watermark)

    @property
    def open_windows(self) -> list[int]:
        return sorted(self.windows)
