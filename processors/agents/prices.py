"""Latest price per `exchange:symbol` from tickers and trades, to the compacted `md.prices.v1`.

The newest ticker sets the price and a newer trade moves `last` (`schemas.prices`, the reduction
the query API also applies to the tickers and trades it reads; it does not depend on the order in
which the two topics are read). Each change is also
forwarded, keyed by exchange, to the positions agent (`<app id>-positions-in`), which values
balances at these prices.

A change is published as soon as the agent has nothing else in hand: a task that runs when the
agent's loop next waits publishes each changed symbol's latest price once. Idle, that is at once;
under load, a burst of changes to one symbol (records already fetched) becomes one record, with
no timer and no added delay. A state remembers what it published, so a change a crash kept from
publishing is published by the sweep after the restart.
"""

from __future__ import annotations

import asyncio

import msgspec
from faust.types import StreamT

from processors.agents.freshness import Freshness
from processors.freshness import DataType
from processors.runtime import Context
from processors.tables import StateTable
from schemas import topics as t
from schemas.models import PriceTicker, Trade
from schemas.prices import PriceParts, price_of, same_price, with_ticker, with_trade

FORWARD_EVERY_US = 250_000
"""Prices reach the positions agent at most this often per symbol (by exchange time)."""


class PriceState(msgspec.Struct):
    price: PriceTicker | None = None
    parts: PriceParts = msgspec.field(default_factory=PriceParts)
    """What `price` is made of (a state written before parts were kept starts from `price`)."""
    updates: int = 0
    forwarded_ts: int = 0
    offsets: dict[str, int] = msgspec.field(default_factory=dict)
    published: int = 0
    """`updates` when the price was last published."""

    def is_replay(self, topic: str, offset: int) -> bool:
        if offset <= self.offsets.get(topic, -1):
            return True
        self.offsets[topic] = offset
        return False


class Prices:
    """The price table and its outputs; the trades agent (candles) calls `on_trade` too, so a
    trade is decoded once for both."""

    def __init__(self, ctx: Context, fresh: Freshness) -> None:
        self._ctx = ctx
        self._fresh = fresh
        self.table = StateTable(ctx.app, "prices_by_symbol", PriceState, ctx.writes)
        self.positions_in = ctx.internal("positions-in", partitions=t.BALANCES.partitions)
        ctx.on_rebalance.append(self.table.forget)
        self._pending: dict[bytes, PriceState] = {}
        self._publisher: asyncio.Task[None] | None = None

    async def _changed(self, key: bytes, state: PriceState, price: PriceTicker) -> None:
        state.updates += 1
        state.price = msgspec.structs.replace(price, seq=state.updates)
        self.table.put(key, state)
        self._pending[key] = state
        if self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish_pending())

    async def _publish_pending(self) -> None:
        try:
            while self._pending:
                key, state = self._pending.popitem()
                await self._publish(key, state)
        except Exception as exc:
            self._ctx.on_fatal("prices", exc)
        finally:
            self._publisher = None

    async def _publish(self, key: bytes, state: PriceState) -> None:
        price = state.price
        if price is None or state.published >= state.updates:
            return
        state.published = state.updates
        value = self._ctx.codec.encode(price)
        await self._ctx.send(self._ctx.topic(t.PRICES), key, value)
        if price.exchange_ts - state.forwarded_ts >= FORWARD_EVERY_US:
            state.forwarded_ts = price.exchange_ts
            await self._ctx.send(self.positions_in, price.exchange.encode(), value)

    async def sweep(self) -> None:
        """Publish what a crash kept from being published (the state says so)."""
        for key in self.table.owned_keys():
            state = self.table.get(key)
            if state is not None and key not in self._pending:
                await self._publish(key, state)

    async def _apply(self, key: bytes, state: PriceState, parts: PriceParts | None) -> None:
        price = price_of(parts) if parts is not None else None
        if parts is not None:
            state.parts = parts
        if price is not None and (state.price is None or not same_price(state.price, price)):
            await self._changed(key, state, price)
        else:
            self.table.put(key, state)  # the offset moved (and maybe a part the price hides)

    async def on_ticker(self, ticker: PriceTicker, offset: int) -> None:
        key = f"{ticker.exchange}:{ticker.symbol}".encode()
        state = self.table.get(key) or PriceState()
        if state.is_replay(t.TICKER.name, offset):
            self._ctx.metrics.replays.labels("prices").inc()
            return
        await self._apply(key, state, with_ticker(_parts(state), ticker))
        await self._fresh.seen(ticker.exchange, ticker.symbol, DataType.TICKER)

    async def on_trade(self, trade: Trade, offset: int) -> None:
        key = f"{trade.exchange}:{trade.symbol}".encode()
        state = self.table.get(key) or PriceState()
        if state.is_replay(t.TRADES.name, offset):
            return
        await self._apply(key, state, with_trade(_parts(state), trade))
        await self._fresh.seen(trade.exchange, trade.symbol, DataType.TRADE)


def _parts(state: PriceState) -> PriceParts:
    if state.parts.ticker is None and state.parts.trade is None and state.price is not None:
        return PriceParts(ticker=state.price)  # written before parts were kept
    return state.parts


def register(ctx: Context, prices: Prices) -> None:
    @ctx.app.agent(ctx.topic(t.TICKER), name="prices")
    async def tickers(stream: StreamT[bytes]) -> None:
        async def handle(ticker: PriceTicker, offset: int) -> None:
            await prices.on_ticker(ticker, offset)
            ctx.observe("prices", ticker.received_ts)

        await ctx.consume(stream, PriceTicker, "prices", handle)

    @ctx.app.timer(1.0, name="prices-sweep")  # type: ignore[untyped-decorator]
    async def sweep() -> None:
        await prices.sweep()
