"""The latest price of a symbol: a pure reduction of its tickers and trades.

Part of the contract, not of one part: the processors' price table (`md.prices.v1`) is this
reduction, and the query API applies the same reduction to the tickers and trades it reads
itself, so a client's price moves one Kafka hop after the exchange's event instead of two
(design.md, "Latest prices").

A price is made of two parts kept apart: the newest ticker and the newest trade, each by
exchange time. The price is that ticker, with `last` (and the time) moved to the trade when the
trade is the newer of the two. Tickers and trades come from two topics, so two readers (the
processor and the API) see them in different orders; keeping the parts apart makes the result
independent of that order. (Ordering the price as a whole by exchange time was not: a trade read
before an older ticker made that ticker look late, and its bid and ask were dropped by one
reader and kept by the other.) Within one topic both readers see one key's records in the same
order, so records with the same exchange time are settled the same way: the later one wins.
"""

from __future__ import annotations

import msgspec

from schemas.models import PriceTicker, Trade


class PriceParts(msgspec.Struct, frozen=True):
    """What a symbol's price is made of (`price_of`)."""

    ticker: PriceTicker | None = None
    """The newest ticker by exchange time."""
    trade: Trade | None = None
    """The newest trade by exchange time."""


def with_ticker(parts: PriceParts, ticker: PriceTicker) -> PriceParts | None:
    """The parts with this ticker; None if it is older than the newest ticker (late, replayed)."""
    if parts.ticker is not None and parts.ticker.exchange_ts > ticker.exchange_ts:
        return None
    return msgspec.structs.replace(parts, ticker=ticker)


def with_trade(parts: PriceParts, trade: Trade) -> PriceParts | None:
    """The parts with this trade; None if it is older than the newest trade (late, replayed)."""
    if parts.trade is not None and parts.trade.exchange_ts > trade.exchange_ts:
        return None
    return msgspec.structs.replace(parts, trade=trade)


def price_of(parts: PriceParts) -> PriceTicker | None:
    """The ticker, `last` moved by a newer trade; None until there is a ticker."""
    ticker, trade = parts.ticker, parts.trade
    if ticker is None or trade is None or trade.exchange_ts <= ticker.exchange_ts:
        return ticker
    return msgspec.structs.replace(
        ticker, last=trade.price, exchange_ts=trade.exchange_ts, received_ts=trade.received_ts
    )


def same_price(a: PriceTicker, b: PriceTicker) -> bool:
    """The same price but for `seq` (the table numbers its records, a ticker has the producer's)."""
    return a == msgspec.structs.replace(b, seq=a.seq)
