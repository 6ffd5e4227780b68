"""The read model's prices: the table (`md.prices.v1`) and the raw tickers and trades, merged.

The API moves a price on the tickers and trades it reads itself, one Kafka hop before the
processors' table has it, with the table's own reduction (`schemas.prices`). The properties a
client relies on: every price is pushed once (the table's copy of a moment the API already
showed is taken silently), a price never goes back in exchange time, and the model ends on the
table's price.
"""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from query_api.readmodel.store import ReadModel
from schemas import topics as t
from schemas.models import PriceTicker, Trade, TradeSide
from schemas.prices import apply_ticker, apply_trade

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


def test_the_table_wins_a_moment_the_processor_read_in_the_other_order() -> None:
    """Ticker and trade of one moment, read by the processor in the other order: same exchange
    time, other content. The table is the record, so its price replaces the API's, pushed."""
    m = ReadModel()
    m.apply(t.TICKER.name, ticker(10))
    m.apply(t.TRADES.name, trade(12, price=106.0))  # the API: last 106 at 12
    table = msgspec.structs.replace(ticker(12, bid=100.5), seq=3)
    [update] = m.apply(t.PRICES.name, table)
    assert update.payload == table
    assert m.prices[KEY] == table


def processor_table(events: list[PriceTicker | Trade]) -> list[PriceTicker]:
    """The records the processors' price agent publishes for these events (schemas.prices)."""
    price: PriceTicker | None = None
    out: list[PriceTicker] = []
    for event in events:
        if isinstance(event, PriceTicker):
            newest = apply_ticker(price, event)
            if newest is price:
                continue
        else:
            moved = apply_trade(price, event)
            if moved is None:
                continue
            newest = moved
        price = newest
        out.append(msgspec.structs.replace(newest, seq=len(out) + 1))
    return out


event = st.one_of(
    st.builds(ticker, st.integers(1, 40), st.sampled_from([100.0, 101.0, 102.0])),
    st.builds(trade, st.integers(1, 40), st.sampled_from([105.0, 106.0])),
)


def test_a_trade_the_processor_read_before_an_older_ticker_moves_only_the_api_for_now() -> None:
    """The processor read a trade before the (older) first ticker, so the trade moved nothing
    there; the API, which had the table's price first, lets it move `last`. The next ticker (a
    full state) brings both to the same price."""
    table = processor_table([trade(2), ticker(1)])
    assert [p.exchange_ts for p in table] == [1]
    m = ReadModel()
    m.apply(t.PRICES.name, table[0])
    m.apply(t.TRADES.name, trade(2))
    m.apply(t.TICKER.name, ticker(1))
    assert (m.prices[KEY].last, m.prices[KEY].exchange_ts) == (105.0, 2)  # newer than the table

    closing = processor_table([trade(2), ticker(1), ticker(3)])[-1]
    m.apply(t.TICKER.name, ticker(3))
    assert m.apply(t.PRICES.name, closing) == []
    assert m.prices[KEY] == closing


@given(events=st.lists(event, max_size=30), data=st.data())
def test_raw_and_table_records_in_any_interleaving(
    events: list[PriceTicker | Trade], data: st.DataObject
) -> None:
    """The processor's table lags the raw topics by any amount: whatever the interleaving, the
    pushed prices never go back in exchange time and never repeat, and after a ticker newer
    than everything the model holds the table's last price."""
    events = [*events, ticker(50, bid=103.0)]
    table = processor_table(events)
    raw = [(t.TICKER.name if isinstance(e, PriceTicker) else t.TRADES.name, e) for e in events]
    tabled = [(t.PRICES.name, p) for p in table]
    merged: list[tuple[str, PriceTicker | Trade]] = []
    while raw or tabled:
        take_raw = raw and (not tabled or data.draw(st.booleans()))
        merged.append(raw.pop(0) if take_raw else tabled.pop(0))

    m = ReadModel()
    pushed: list[PriceTicker] = []
    for topic, record in merged:
        for update in m.apply(topic, record):
            if update.channel == "prices":
                assert isinstance(update.payload, PriceTicker)
                pushed.append(update.payload)
    for before, after in itertools.pairwise(pushed):
        assert after.exchange_ts >= before.exchange_ts
        assert msgspec.structs.replace(after, seq=0) != msgspec.structs.replace(before, seq=0)
    assert m.prices[KEY] == table[-1]
