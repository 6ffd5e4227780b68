"""Positions: the pure reducer the position agent is built on (prices: `schemas.prices`).

- Positions: a balance valued at the live price of `ASSET/QUOTE`. With a known average entry
  cost, unrealized P&L is `qty * (price - avg_entry)`; without one, the 24 h P&L is
  `qty * change_24h` (what holding the balance earned over the ticker's 24 h window).
"""

from __future__ import annotations

from schemas.models import Balance, Position, PriceTicker


def value_position(
    balance: Balance,
    price: PriceTicker | None,
    quote: str,
    avg_entry_price: float | None = None,
) -> Position:
    """A balance valued in `quote`; the quote asset itself is worth exactly 1."""
    if balance.asset == quote:
        mark: float | None = 1.0
        change: float | None = 0.0
    elif price is not None:
        mark = price.last or (price.bid + price.ask) / 2
        change = price.change_24h
    else:
        mark = change = None
    value = balance.total * mark if mark is not None else None
    unrealized = (
        balance.total * (mark - avg_entry_price)
        if mark is not None and avg_entry_price is not None
        else None
    )
    ts = max(balance.exchange_ts, price.exchange_ts if price is not None else 0)
    return Position(
        exchange=balance.exchange,
        asset=balance.asset,
        quote=quote,
        qty=balance.total,
        price=mark,
        value=value,
        avg_entry_price=avg_entry_price,
        unrealized_pnl=unrealized,
        pnl_24h=balance.total * change if change is not None else None,
        exchange_ts=ts,
        received_ts=max(balance.received_ts, price.received_ts if price is not None else 0),
    )
