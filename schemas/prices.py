"""The latest price of a symbol: a pure reduction of its tickers and trades.

Part of the contract, not of one part: the processors' price table (`md.prices.v1`) is this
reduction, and the query API applies the same reduction to the tickers and trades it reads
itself, so a client's price moves one Kafka hop after the exchange's event instead of two
(design.md, "Latest prices"). Both order by exchange time, so a late or replayed record never
takes a price back.
"""

from __future__ import annotations

import msgspec

from schemas.models import PriceTicker, Trade


def apply_ticker(current: PriceTicker | None, ticker: PriceTicker) -> PriceTicker:
    """The newer of the two by exchange time (a replayed or late ticker never goes back)."""
    if current is not None and current.exchange_ts > ticker.exchange_ts:
        return current
    return ticker


def apply_trade(current: PriceTicker | None, trade: Trade) -> PriceTicker | None:
    """Move `last` to a trade newer than the current ticker; None when nothing changes."""
    if current is None or trade.exchange_ts <= current.exchange_ts:
        return None
    return msgspec.structs.replace(
        current, last=trade.price, exchange_ts=trade.exchange_ts, received_ts=trade.received_ts
    )
