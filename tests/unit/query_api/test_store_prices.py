"""The read model's prices: the table (`md.prices.v1`) and the raw tickers and trades, merged.

The API moves a price on the tickers and trades it reads itself, one Kafka hop before the
processors' table has it, with the table's own reduction (`schemas.prices`). The properties a
client relies on: every price is pushed once (the table's copy of a moment the API already
showed is taken silently), a price never goes back in exchange time, and the model ends on the
table's price, whatever order the processor and the API read the ticker and trade topics in.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from query_api.readmodel.store import ReadModel
from schemas import topics as t
from schemas.models import PriceTicker, Trade, TradeSide
from schemas.prices import PriceParts, price_of, same_price, with_ticker, with_trade

KEY = "kraken:BTC/USD"


def ticker(ts: int, bid: float = 100.0, seq: int = 7) -> PriceTicker:
    return PriceTicker(
        exchange="kraken",
        symbol="BTC/USD",
        bid=bid,
        bid_qty=1,
        ask=bid + 1,
        ask_qty=1,
        last=bid + 0.5,
        volume_24h=10,
        vwap_24h=99,
        high_24h=110,
        low_24h=90,
        change_24h=1,
        exchange_ts=ts,
        received_ts=ts + 1,
        seq=seq,
    )


def trade(ts: int, price: float = 105.0) -> Trade:
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


def channels(updates: list[object]) -> list[str]:
    return [u.channel for u in updates]  # type: ignore[attr-defined]


def test_a_ticker_moves_the_price_first_and_the_tables_copy_is_not_pushed_again() -> None:
    m = ReadModel()
    [update] = m.apply(t.TICKER.name, ticker(10))
    assert (update.channel, update.key) == ("prices", KEY)
    assert update.payload == msgspec.structs.replace(ticker(10), seq=0)

    assert m.apply(t.PRICES.name, ticker(10, seq=1)) == []  # the table caught up
    assert m.prices[KEY].seq == 1  # and its numbering is kept


def test_the_table_ahead_of_the_api_is_pushed_and_a_late_ticker_changes_nothing() -> None:
    m = ReadModel()
    m.apply(t.TICKER.name, ticker(10))
    [update] = m.apply(t.PRICES.name, ticker(20, bid=101.0, seq=2))
    assert update.payload == ticker(20, bid=101.0, seq=2)
    assert m.apply(t.TICKER.name, ticker(15, bid=99.0)) == []
    assert m.apply(t.PRICES.name, ticker(15, bid=99.0, seq=1)) == []  # a replay of the table
    assert m.prices[KEY].exchange_ts == 20


def test_a_newer_trade_moves_last_and_pushes_the_trade_and_the_price() -> None:
    m = ReadModel()
    m.apply(t.PRICES.name, ticker(10, seq=1))
    trade_update, price_update = m.apply(t.TRADES.name, trade(12, price=106.0))
    assert (trade_update.channel, price_update.channel) == ("trades", "prices")
    moved = price_update.payload
    assert isinstance(moved, PriceTicker)
    assert (moved.last, moved.bid, moved.exchange_ts, moved.seq) == (106.0, 100.0, 12, 0)

    assert channels(m.apply(t.TRADES.name, trade(11))) == ["trades"]  # older: price unchanged
    assert m.prices[KEY].last == 106.0


def test_a_trade_before_any_price_is_kept_but_moves_nothing() -> None:
    m = ReadModel()
    assert channels(m.apply(t.TRADES.name, trade(12))) == ["trades"]
    assert KEY not in m.prices


def test_the_tables_price_of_a_moment_read_in_another_order_is_not_pushed() -> None:
    """The processor read a trade before the ticker older than it, and published the trade's
    move of the ticker before that one. The table's record is of the API's moment with other
    content, and is a step on the way to the API's price, where the table ends too."""
    m = ReadModel()
    m.apply(t.PRICES.name, ticker(5, seq=1))
    m.apply(t.TICKER.name, ticker(10, bid=101.0))
    m.apply(t.TRADES.name, trade(12, price=106.0))  # the API: ticker of 10, last 106 at 12
    own = m.prices[KEY]
    assert (own.bid, own.last, own.exchange_ts) == (101.0, 106.0, 12)

    on_the_way, ends = processor_table([ticker(5), trade(12, price=106.0), ticker(10, bid=101.0)])[
        1:
    ]
    assert (on_the_way.bid, on_the_way.exchange_ts) == (100.0, 12)  # the old bid, at 12
    assert m.apply(t.PRICES.name, on_the_way) == []
    assert m.prices[KEY] == own
    assert m.apply(t.PRICES.name, ends) == []
    assert m.prices[KEY] == ends  # the same price: the table's numbering is taken


def test_a_price_taken_from_the_table_gives_way_to_the_tables_next_of_the_same_moment() -> None:
    """Behind the table (the API fell back, or is warming), the API took the table's price as
    it is; it cannot tell that price's ticker from its trade, so the table's next record of the
    same moment is the better one."""
    m = ReadModel()
    first = msgspec.structs.replace(ticker(10), last=106.0, exchange_ts=12, seq=4)
    [update] = m.apply(t.PRICES.name, first)
    assert update.payload == first
    m.apply(t.TICKER.name, ticker(11, bid=99.0))  # late for the table's price: it changes nothing
    assert m.prices[KEY] == first
    second = msgspec.structs.replace(ticker(11, bid=99.0), last=106.0, exchange_ts=12, seq=5)
    [update] = m.apply(t.PRICES.name, second)
    assert update.payload == second


def interleave(data: st.DataObject, a: list[Any], b: list[Any]) -> list[Any]:
    """`a` and `b` merged, each in its own order (two topics, read by one consumer)."""
    a, b, out = list(a), list(b), []
    while a or b:
        out.append(a.pop(0) if a and (not b or data.draw(st.booleans())) else b.pop(0))
    return out


def processor_table(events: list[PriceTicker | Trade]) -> list[PriceTicker]:
    """The records the processors' price agent publishes for these events, read in this order
    (`schemas.prices`), one per change."""
    parts = PriceParts()
    price: PriceTicker | None = None
    out: list[PriceTicker] = []
    for event in events:
        moved = (
            with_ticker(parts, event)
            if isinstance(event, PriceTicker)
            else with_trade(parts, event)
        )
        if moved is None:
            continue
        parts = moved
        newest = price_of(parts)
        if newest is None or (price is not None and same_price(price, newest)):
            continue
        price = newest
        out.append(msgspec.structs.replace(newest, seq=len(out) + 1))
    return out


def test_the_reduction_ends_on_one_price_whatever_the_order_of_the_two_topics() -> None:
    tickers = [ticker(1), ticker(4, bid=101.0)]
    trades = [trade(2), trade(3, price=106.0), trade(5, price=107.0)]
    ends = {
        msgspec.structs.replace(processor_table(order)[-1], seq=0)
        for order in itertools.permutations([*tickers, *trades])
        if [e for e in order if isinstance(e, PriceTicker)] == tickers
        and [e for e in order if isinstance(e, Trade)] == trades
    }
    newest = msgspec.structs.replace(ticker(4, bid=101.0), last=107.0, exchange_ts=5, received_ts=6)
    assert ends == {msgspec.structs.replace(newest, seq=0)}


times = st.lists(st.integers(1, 12), max_size=8).map(sorted)  # in order, some of one moment
ticker_events = times.flatmap(
    lambda ts: st.tuples(
        *(
            st.sampled_from([100.0, 101.0, 102.0]).map(lambda bid, at=at: ticker(at, bid=bid))
            for at in ts
        )
    ).map(list)
)
trade_events = times.flatmap(
    lambda ts: st.tuples(
        *(
            st.sampled_from([105.0, 106.0]).map(lambda price, at=at: trade(at, price=price))
            for at in ts
        )
    ).map(list)
)


@given(tickers=ticker_events, trades=trade_events, data=st.data())
def test_raw_and_table_records_in_any_interleaving(
    tickers: list[PriceTicker], trades: list[Trade], data: st.DataObject
) -> None:
    """The processor and the API each read the ticker and trade topics in an order of their own,
    and the table lags the raw topics by any amount: the pushed prices never go back in exchange
    time and never repeat, and the API ends on the table's last price."""
    processor_order = interleave(data, tickers, trades)
    table = processor_table(processor_order)
    raw = [
        (t.TICKER.name if isinstance(e, PriceTicker) else t.TRADES.name, e)
        for e in interleave(data, tickers, trades)
    ]
    merged = interleave(data, raw, [(t.PRICES.name, p) for p in table])

    m = ReadModel()
    pushed: list[PriceTicker] = []
    for topic, record in merged:
        for update in m.apply(topic, record):
            if update.channel == "prices":
                assert isinstance(update.payload, PriceTicker)
                pushed.append(update.payload)
    for before, after in itertools.pairwise(pushed):
        assert after.exchange_ts >= before.exchange_ts
        assert not same_price(after, before)
    if table:
        assert same_price(m.prices[KEY], table[-1])
    else:
        assert KEY not in m.prices
