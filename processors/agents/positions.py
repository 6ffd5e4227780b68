"""Positions: balances valued at live prices, to the compacted `md.positions.v1`.

Balances (`md.balances.v1`, keyed `exchange:asset`) and prices (forwarded by the price agent) meet
in `<app id>-positions-in`, keyed by exchange, so one worker holds an exchange's balances and
prices together. A position is emitted when its balance changes or its asset's price does.
Without the account's own trade history the P&L is the 24 h change of the holding.
"""

from __future__ import annotations

from typing import cast

import msgspec
from faust.types import StreamT

from processors.agents.freshness import Freshness
from processors.agents.prices import Prices
from processors.freshness import DataType
from processors.runtime import Context
from processors.tables import StateTable
from processors.valuation import value_position
from schemas import topics as t
from schemas.models import Balance, PriceTicker

VALUATION_QUOTE = "USD"


class Holdings(msgspec.Struct):
    balances: dict[str, Balance] = msgspec.field(default_factory=dict)
    prices: dict[str, PriceTicker] = msgspec.field(default_factory=dict)  # by base asset
    offset: int = -1
    seq: int = 0


def register(ctx: Context, prices: Prices, fresh: Freshness) -> None:
    table = StateTable(ctx.app, "holdings_by_exchange", Holdings, ctx.writes)
    ctx.on_rebalance.append(table.forget)
    positions_in = prices.positions_in

    @ctx.app.agent(ctx.topic(t.BALANCES), name="balances-router")
    async def route_balances(stream: StreamT[bytes]) -> None:
        async for event in ctx.events(stream):
            balance = await ctx.decode(event, Balance)
            if balance is None:
                continue
            ctx.observe("balances-router", balance.received_ts)
            await fresh.seen(balance.exchange, None, DataType.BALANCE)
            key = balance.exchange.encode()
            await ctx.send(positions_in, key, event.value)

    async def emit(holdings: Holdings, balance: Balance) -> None:
        holdings.seq += 1
        position = value_position(balance, holdings.prices.get(balance.asset), VALUATION_QUOTE)
        position = msgspec.structs.replace(position, seq=holdings.seq)
        key = f"{balance.exchange}:{balance.asset}"
        await ctx.publish(t.POSITIONS, key, position)

    @ctx.app.agent(positions_in, name="positions")
    async def positions(stream: StreamT[bytes]) -> None:
        async for event in ctx.events(stream):
            try:
                record = ctx.codec.decode(event.value)
                key = cast(bytes, event.key)  # a raw-keyed internal topic
                holdings = table.get(key) or Holdings()
                if event.message.offset <= holdings.offset:
                    ctx.metrics.replays.labels("positions").inc()
                    continue
                holdings.offset = event.message.offset
                if isinstance(record, Balance):
                    holdings.balances[record.asset] = record
                    await emit(holdings, record)
                elif isinstance(record, PriceTicker):
                    base, _, quote = record.symbol.partition("/")
                    if quote == VALUATION_QUOTE:
                        holdings.prices[base] = record
                        if (held := holdings.balances.get(base)) is not None:
                            await emit(holdings, held)
                table.put(key, holdings)
                ctx.metrics.events.labels("positions").inc()
            except Exception as exc:
                ctx.on_fatal("positions", exc)
