"""Candles and indicators per symbol and timeframe, from trades and the exchange's OHLC.

Inputs, both keyed `exchange:symbol` by the producers, so one worker owns everything about a
symbol: `md.trades.v1` (the same agent keeps the price table's `last`) and `md.ohlc.v1`.

State: `series_by_symbol` (the forming windows, recent exchange candles, reconciliation, applied
offsets: small, written on every trade) and `indicators_by_symbol` (every timeframe's indicator
state: larger, written only when a candle closes). Outputs: `md.candles.v1` keyed
`exchange:symbol:timeframe:open_ts` (each candle while it forms, then once more closed),
`md.indicators.v1` keyed `exchange:symbol:timeframe`, and candle-mismatch alerts.
"""

from __future__ import annotations

import math
import time

import msgspec
from faust.types import StreamT

from processors.agents.freshness import Freshness
from processors.agents.prices import Prices
from processors.freshness import DataType
from processors.runtime import Context, now_us
from processors.series import (
    Step,
    SymbolSeries,
    flush_forming,
    on_clock,
    on_exchange_candle,
    on_trade,
)
from processors.tables import StateTable
from schemas import topics as t
from schemas.models import OHLCV, Trade

QUIET_EXTRA_S = 2.0


class Candles:
    def __init__(self, ctx: Context, prices: Prices, fresh: Freshness) -> None:
        self._ctx, self._prices, self._fresh = ctx, prices, fresh
        self._cfg = ctx.settings.processors
        self._grace_us = int(self._cfg.grace_seconds * 1_000_000)
        self._late = ctx.metrics.late_trades.labels("any")  # exported at 0 from the start
        self.series = StateTable(ctx.app, "series_by_symbol", SymbolSeries, ctx.writes)
        self.indicators = StateTable(ctx.app, "indicators_by_symbol", SymbolSeries, ctx.writes)
        self._last_active: dict[bytes, float] = {}  # monotonic time of the key's last record
        self._started = time.monotonic()
        self._lag_s = math.inf
        """How late (receipt to processing) the last trade this worker processed was: large
        while it works through a backlog, when the wall clock says nothing about the input."""
        ctx.on_rebalance.extend((self.series.forget, self.indicators.forget))

    def _new(self, exchange: str, symbol: str) -> SymbolSeries:
        cfg = self._cfg
        return SymbolSeries.new(
            exchange,
            symbol,
            cfg.timeframes,
            self._grace_us,
            cfg.indicators,
            forming_every_us=cfg.forming_candle_ms * 1000,
        )

    def load(self, key: bytes, exchange: str, symbol: str) -> SymbolSeries:
        series = self.series.get(key)
        if series is None:
            return self._new(exchange, symbol)
        if not series.indicators:  # decoded from the table: its indicators live apart
            stored = self.indicators.get(key)
            series.indicators = (stored or self._new(exchange, symbol)).indicators
        return series

    def save(self, key: bytes, series: SymbolSeries, step: Step) -> None:
        self.series.put(key, series, _without_indicators)
        if step.indicators_moved:
            self.indicators.put(key, series, _indicators_only)

    async def publish(self, step: Step, key: str) -> None:
        ctx = self._ctx
        for candle in step.candles:
            ckey = f"{key}:{candle.timeframe}:{candle.open_ts}"
            await ctx.publish(t.CANDLES, ckey, candle)
            if candle.closed:
                ctx.metrics.candles_closed.labels(candle.timeframe).inc()
        for ind in step.indicators:
            await ctx.publish(t.INDICATORS, f"{key}:{ind.timeframe}", ind)
        if step.alerts:
            await self._fresh.publish(step.alerts)
        metrics = ctx.metrics
        if step.late:
            self._late.inc(step.late)
        if step.reconciled:
            metrics.reconciled.inc(step.reconciled)
        if step.mismatched:
            metrics.mismatches.inc(step.mismatched)
        if step.gaps_filled:
            metrics.gaps_filled.inc(step.gaps_filled)

    async def on_trade(self, trade: Trade, offset: int) -> None:
        await self._prices.on_trade(trade, offset)
        key = f"{trade.exchange}:{trade.symbol}"
        bkey = key.encode()
        self._last_active[bkey] = time.monotonic()
        self._lag_s = time.time() - trade.received_ts / 1e6
        series = self.load(bkey, trade.exchange, trade.symbol)
        if series.is_replay(t.TRADES.name, offset):
            self._ctx.metrics.replays.labels("candles").inc()
            return
        step = on_trade(series, trade)
        self.save(bkey, series, step)
        await self.publish(step, key)

    async def on_exchange_candle(self, candle: OHLCV, offset: int) -> None:
        key = f"{candle.exchange}:{candle.symbol}"
        series = self.load(key.encode(), candle.exchange, candle.symbol)
        if series.is_replay(t.OHLC.name, offset):
            self._ctx.metrics.replays.labels("exchange-candles").inc()
            return
        step = on_exchange_candle(series, candle)
        if step.candles or step.alerts or step.indicators_moved or candle.closed:
            # Only what finalises a window is saved at once; an update of a forming exchange
            # candle (one per trade and timeframe) rides along with the symbol's next save.
            self.save(key.encode(), series, step)
        await self.publish(step, key)

    async def tick(self) -> None:
        """Timer work. Forming candles held back by `formingCandleMs` are published. A quiet
        market still closes its candles, by wall time, once the symbol has been idle for the
        grace period, and only while this worker is live: it has processed a trade of that
        symbol since it started, and the last trade it processed was not a backlog's (processed
        within `QUIET_EXTRA_S` of its receipt). A worker catching up after downtime would
        otherwise close windows by the wall clock before their trades are read, and drop those
        trades as late.

        A timer has no source record, so it cannot write the tables (faust writes a changelog
        to the partition of the record being processed): what it changes lives in the decoded
        cache until the symbol's next record saves it. After a crash in between, that record
        closes the same window again and publishes the same candle under the same key."""
        now, quiet = time.monotonic(), self._cfg.grace_seconds + QUIET_EXTRA_S
        for bkey in self.series.owned_keys():
            stored = self.series.get(bkey)
            if stored is None:
                continue
            series = self.load(bkey, stored.exchange, stored.symbol)
            last = self._last_active.get(bkey)
            if last is not None and now - last >= quiet and self._lag_s < QUIET_EXTRA_S:
                await self.publish(on_clock(series, now_us() - self._grace_us), bkey.decode())
            if series.forming_dirty or series.indicators_held:
                await self.publish(flush_forming(series), bkey.decode())
        self._ctx.metrics.table_size.labels("series_by_symbol").set(len(self.series))


def _without_indicators(series: SymbolSeries) -> SymbolSeries:
    return msgspec.structs.replace(series, indicators={})


def _indicators_only(series: SymbolSeries) -> SymbolSeries:
    return msgspec.structs.replace(
        series,
        builders={},
        exchange_latest={},
        exchange_final={},
        awaiting={},
        awaiting_first={},
        closed_recent={},
    )


def register(ctx: Context, candles: Candles, fresh: Freshness) -> None:
    app = ctx.app

    @app.agent(ctx.topic(t.OHLC), name="exchange-candles")
    async def exchange_candles(stream: StreamT[bytes]) -> None:
        async def handle(candle: OHLCV, offset: int) -> None:
            await candles.on_exchange_candle(candle, offset)
            await fresh.seen(candle.exchange, candle.symbol, DataType.OHLC)
            ctx.observe("exchange-candles", candle.received_ts)

        await ctx.consume(stream, OHLCV, "exchange-candles", handle)

    @app.agent(ctx.topic(t.TRADES), name="candles")
    async def trades(stream: StreamT[bytes]) -> None:
        async def handle(trade: Trade, offset: int) -> None:
            await candles.on_trade(trade, offset)
            ctx.observe("candles", trade.received_ts)

        await ctx.consume(stream, Trade, "candles", handle)

    @app.timer(0.25, name="candles-clock")  # type: ignore[untyped-decorator]
    async def clock() -> None:
        await candles.tick()
