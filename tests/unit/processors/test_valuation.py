"""Positions with P&L (`processors.valuation`)."""

from __future__ import annotations

from processors.valuation import value_position
from schemas.models import Balance, PriceTicker


def ticker(ts: int, last: float = 100.0, change: float = 5.0) -> PriceTicker:
    return PriceTicker(
        exchange="kraken",
        symbol="BTC/USD",
        bid=last - 1,
        bid_qty=1,
        ask=last + 1,
        ask_qty=1,
        last=last,
        volume_24h=10,
        vwap_24h=99,
        high_24h=110,
        low_24h=90,
        change_24h=change,
        exchange_ts=ts,
        received_ts=ts + 1,
    )


def balance(asset: str, total: float) -> Balance:
    return Balance(
        exchange="kraken", asset=asset, total=total, available=total, exchange_ts=50, received_ts=51
    )


def test_positions_with_entry_cost_unknown_entry_and_the_quote_asset() -> None:
    with_cost = value_position(
        balance("BTC", 2), ticker(100, last=100.0), "USD", avg_entry_price=80.0
    )
    assert (with_cost.price, with_cost.value, with_cost.unrealized_pnl) == (100.0, 200.0, 40.0)
    assert with_cost.pnl_24h == 10.0

    no_cost = value_position(balance("BTC", 2), ticker(100), "USD")
    assert no_cost.unrealized_pnl is None
    assert no_cost.pnl_24h == 10.0

    cash = value_position(balance("USD", 500), None, "USD")
    assert (cash.price, cash.value, cash.pnl_24h) == (1.0, 500.0, 0.0)

    unpriced = value_position(balance("DOGE", 3), None, "USD")
    assert (unpriced.price, unpriced.value) == (None, None)
