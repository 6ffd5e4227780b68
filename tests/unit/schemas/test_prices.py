"""The price reduction (`schemas.prices`): the newest ticker, `last` moved by a newer trade,
whatever the order the two are read in."""

from __future__ import annotations

import msgspec

from schemas.models import PriceTicker, Trade, TradeSide
from schemas.prices import PriceParts, price_of, same_price, with_ticker, with_trade


def ticker(ts: int, bid: float = 99.0) -> PriceTicker:
    return PriceTicker(
        exchange="kraken",
        symbol="BTC/USD",
        bid=bid,
        bid_qty=1,
        ask=bid + 2,
        ask_qty=1,
        last=bid + 1,
        volume_24h=10,
        vwap_24h=99,
        high_24h=110,
        low_24h=90,
        change_24h=5,
        exchange_ts=ts,
        received_ts=ts + 1,
    )


def trade(ts: int, price: float = 105.5) -> Trade:
    return Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id=str(ts),
        price=price,
        qty=1,
        side=TradeSide.BUY,
        exchange_ts=ts,
        received_ts=ts + 1,
    )


def parts(*records: PriceTicker | Trade) -> PriceParts:
    out = PriceParts()
    for record in records:
        moved = (
            with_ticker(out, record) if isinstance(record, PriceTicker) else with_trade(out, record)
        )
        out = moved if moved is not None else out
    return out


def test_the_newest_ticker_wins_and_a_late_one_changes_nothing() -> None:
    assert price_of(parts(ticker(10))) == ticker(10)
    assert price_of(parts(ticker(10), ticker(20, bid=98))) == ticker(20, bid=98)
    assert with_ticker(parts(ticker(20)), ticker(10)) is None
    assert price_of(parts(ticker(10, bid=1), ticker(10, bid=2))) == ticker(10, bid=2)  # one moment


def test_a_newer_trade_moves_last_and_the_time_an_older_one_does_not() -> None:
    moved = price_of(parts(ticker(20), trade(30)))
    assert moved is not None
    assert (moved.last, moved.exchange_ts, moved.received_ts, moved.bid) == (105.5, 30, 31, 99.0)
    assert price_of(parts(ticker(40), trade(30))) == ticker(40)
    assert price_of(parts(ticker(30), trade(30))) == ticker(30)  # one moment: the ticker's
    assert with_trade(parts(trade(30)), trade(20)) is None


def test_there_is_no_price_before_a_ticker_but_an_earlier_trade_is_kept() -> None:
    assert price_of(parts(trade(30))) is None
    moved = price_of(parts(trade(30), ticker(20)))
    assert moved is not None
    assert (moved.last, moved.exchange_ts) == (105.5, 30)


def test_a_ticker_read_after_a_newer_trade_still_gives_its_bid_and_ask() -> None:
    """The two topics are read in either order: both orders end on the same price."""
    one = price_of(parts(ticker(10), ticker(20, bid=98), trade(30)))
    other = price_of(parts(ticker(10), trade(30), ticker(20, bid=98)))
    assert one == other
    assert one is not None
    assert (one.bid, one.last, one.exchange_ts) == (98, 105.5, 30)


def test_the_same_price_ignores_only_the_sequence_number() -> None:
    assert same_price(ticker(10), msgspec.structs.replace(ticker(10), seq=9))
    assert not same_price(ticker(10), ticker(10, bid=98))
