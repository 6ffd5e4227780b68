"""The agents on faust's in-memory test context (no broker): what each writes for its inputs,
bad records to the DLQ with the worker going on, replays skipped, unexpected errors fatal."""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, NoReturn

import faust
import msgspec
import pytest
from faust.streams import _current_event
from prometheus_client import CollectorRegistry

from marketdata.config import load_config
from processors.agents.candles import QUIET_EXTRA_S, Candles
from processors.agents.freshness import Freshness
from processors.agents.prices import Prices, PriceState
from processors.app import create_app
from processors.metrics import ProcessorMetrics
from processors.runtime import Context
from schemas import topics as t
from schemas.codec import Codec
from schemas.models import (
    OHLCV,
    Balance,
    BookUpdate,
    DeadLetter,
    IndicatorSet,
    OrderBook,
    Position,
    PriceLevel,
    PriceTicker,
    Record,
    Trade,
    TradeSide,
)

T0 = 1_796_000_040_000_000 - 1_796_000_040_000_000 % 60_000_000
KEY = b"kraken:BTC/USD"


class Fatal(Exception):
    pass


@dataclass
class Processors:
    ctx: Context

    def agent(self, name: str) -> Any:
        return self.ctx.app.agents[name]

    def sent(self, topic: str) -> list[tuple[bytes | None, Record]]:
        assert self.ctx.captured is not None
        return [(k, self.ctx.codec.decode(v)) for name, k, v in self.ctx.captured if name == topic]


@pytest.fixture
def processors(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Processors]:
    monkeypatch.chdir(tmp_path)
    settings = load_config(None, {k: v for k, v in os.environ.items() if k != "MARKETDATA_CONFIG"})

    def fatal(agent: str, exc: BaseException) -> NoReturn:
        raise Fatal(agent) from exc

    ctx = create_app(
        settings, "127.0.0.1:9", CollectorRegistry(), on_fatal=fatal, restore_alerts=False
    )
    ctx.captured = []
    ctx.app.conf.store = "memory://"
    ctx.app.finalize()
    ctx.app.flow_control.resume()
    return Processors(ctx)


def trade(ts: int, price: float, qty: float = 1.0) -> Trade:
    return Trade(
        exchange="kraken",
        symbol="BTC/USD",
        trade_id=str(ts),
        price=price,
        qty=qty,
        side=TradeSide.SELL,
        exchange_ts=ts,
        received_ts=ts + 500,
        price_precision=1,
        size_precision=8,
    )


def ticker(ts: int, bid: float, ask: float) -> PriceTicker:
    return PriceTicker(
        exchange="kraken",
        symbol="BTC/USD",
        bid=bid,
        bid_qty=1.0,
        ask=ask,
        ask_qty=2.0,
        last=bid,
        volume_24h=10.0,
        vwap_24h=100.0,
        high_24h=ask,
        low_24h=bid,
        change_24h=5.0,
        change_pct_24h=0.01,
        exchange_ts=ts,
        received_ts=ts + 500,
        price_precision=1,
        size_precision=8,
    )


@pytest.fixture
async def candles(processors: Processors) -> AsyncIterator[Any]:
    async with processors.agent("candles").test_context() as agent:
        yield agent


async def test_trades_build_candles_and_indicators_and_move_the_price(
    processors: Processors, candles: Any
) -> None:
    codec = processors.ctx.codec
    async with processors.agent("prices").test_context() as prices:
        await prices.put(codec.encode(ticker(T0, 99.0, 101.0)), key=KEY)
    for i, price in enumerate((100.0, 102.0, 98.0, 101.0)):
        await candles.put(codec.encode(trade(T0 + i * 10_000_000, price)), key=KEY)
    await candles.put(codec.encode(trade(T0 + 70_000_000, 103.0)), key=KEY)  # closes T0's 1m
    await asyncio.sleep(0)  # prices are published once the agent waits

    closed = [c for _, c in processors.sent(t.CANDLES.name) if isinstance(c, OHLCV) and c.closed]
    one_minute = [c for c in closed if c.timeframe == "1m"]
    assert [
        (c.open_ts, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in one_minute
    ] == [(T0, 100.0, 102.0, 98.0, 101.0, 4.0, 4)]
    keys = {k for k, c in processors.sent(t.CANDLES.name)}
    assert f"kraken:BTC/USD:1m:{T0}".encode() in keys
    indicators = [r for _, r in processors.sent(t.INDICATORS.name)]
    assert all(isinstance(r, IndicatorSet) for r in indicators)
    assert any(r.timeframe == "1m" and r.closed and r.open_ts == T0 for r in indicators)  # type: ignore[union-attr]
    prices_out = [r for _, r in processors.sent(t.PRICES.name)]
    assert isinstance(prices_out[-1], PriceTicker)
    assert (prices_out[-1].bid, prices_out[-1].last) == (99.0, 103.0)  # the newest trade moved last
    seqs = [r.seq for r in prices_out]  # type: ignore[union-attr]
    assert seqs == sorted(set(seqs))  # a burst may be published as its latest price only
    assert seqs[-1] == 5  # the ticker and every trade but the first moved the price


async def test_a_replayed_trade_is_skipped_not_counted_twice(
    processors: Processors, candles: Any
) -> None:
    codec = processors.ctx.codec
    await candles.put(codec.encode(trade(T0 + 1, 100.0, 2.0)), key=KEY)
    candles.sent_offset -= 1  # a restart delivers the same offset again
    await candles.put(codec.encode(trade(T0 + 1, 100.0, 2.0)), key=KEY)
    await candles.put(codec.encode(trade(T0 + 70_000_000, 101.0)), key=KEY)
    (closed,) = [
        c
        for _, c in processors.sent(t.CANDLES.name)
        if isinstance(c, OHLCV) and c.closed and c.timeframe == "1m"
    ]
    assert (closed.volume, closed.trades) == (2.0, 1)


async def test_an_undecodable_record_goes_to_the_dlq_and_the_agent_goes_on(
    processors: Processors, candles: Any
) -> None:
    codec = processors.ctx.codec
    await candles.put(b"\x00garbage", key=KEY)
    await candles.put(codec.encode(ticker(T0, 1.0, 2.0)), key=KEY)  # valid Avro, wrong type
    await candles.put(codec.encode(trade(T0 + 1, 100.0)), key=KEY)
    letters = [r for _, r in processors.sent("md.trades.v1.dlq")]
    assert [type(r) for r in letters] == [DeadLetter, DeadLetter]
    first, second = letters
    assert isinstance(first, DeadLetter)
    assert isinstance(second, DeadLetter)
    assert (first.source_topic, first.offset, first.value) == ("md.trades.v1", 0, b"\x00garbage")
    assert "not Avro single-object encoded" in first.error
    assert "expected Trade, got PriceTicker" in second.error
    assert any(isinstance(c, OHLCV) for _, c in processors.sent(t.CANDLES.name))
    metric = processors.ctx.metrics.dead_letters.labels("md.trades.v1")._value.get()
    assert metric == 2


async def test_an_unexpected_error_is_fatal_and_nothing_is_published(
    processors: Processors, candles: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("processors.agents.prices.with_trade", lambda *_: 1 / 0)
    with pytest.raises(Fatal, match="candles"):
        await candles.put(processors.ctx.codec.encode(trade(T0, 100.0)), key=KEY)
    assert processors.sent(t.CANDLES.name) == []


async def test_books_apply_snapshot_and_deltas_and_publish_the_top(processors: Processors) -> None:
    def update(
        snapshot: bool, bids: list[tuple[float, float]], asks: list[tuple[float, float]]
    ) -> bytes:
        return processors.ctx.codec.encode(
            BookUpdate(
                exchange="kraken",
                symbol="BTC/USD",
                is_snapshot=snapshot,
                bids=[PriceLevel(p, q) for p, q in bids],
                asks=[PriceLevel(p, q) for p, q in asks],
                depth=10,
                exchange_ts=T0,
                received_ts=T0,
                price_precision=1,
                size_precision=8,
            )
        )

    async with processors.agent("books").test_context() as books:
        await books.put(update(False, [(1.0, 1.0)], []), key=KEY)  # before any snapshot: ignored
        await books.put(update(True, [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0)]), key=KEY)
    (book,) = [r for _, r in processors.sent(t.BOOKS.name)]
    assert isinstance(book, OrderBook)
    assert [(lv.price, lv.qty) for lv in book.bids] == [(99.0, 1.0), (98.0, 2.0)]
    assert [(lv.price, lv.qty) for lv in book.asks] == [(101.0, 1.0)]


async def test_balances_are_valued_at_the_live_price(processors: Processors) -> None:
    codec = processors.ctx.codec
    balance = Balance(
        exchange="kraken", asset="BTC", total=2.0, available=2.0, exchange_ts=T0, received_ts=T0
    )
    async with processors.agent("positions").test_context() as positions:
        await positions.put(codec.encode(ticker(T0, 99.0, 101.0)), key=b"kraken")
        await positions.put(codec.encode(balance), key=b"kraken")
    (position,) = [r for _, r in processors.sent(t.POSITIONS.name)]
    assert isinstance(position, Position)
    assert (position.asset, position.qty, position.price, position.value) == (
        "BTC",
        2.0,
        99.0,
        198.0,
    )
    assert position.pnl_24h == 10.0  # 2 BTC x the ticker's 24 h change of 5


class FakeEvent:
    """What a table write reads of the record being processed."""

    message = SimpleNamespace(partition=0)


async def test_a_burst_of_price_changes_is_published_as_its_latest_price() -> None:
    """Changes made while the agent has records in hand (no wait in between) are published
    once, as the latest, when it next waits; and a change a crash kept from being published is
    published by the sweep."""
    settings = load_config(None, {})
    app = faust.App("prices-burst", broker="memory://", store="memory://")
    ctx = Context(settings, app, Codec(), ProcessorMetrics.on(CollectorRegistry()), captured=[])
    prices = Prices(ctx, Freshness(ctx))
    event = FakeEvent()
    _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    for i in range(5):  # each moves the price
        await prices.on_ticker(ticker(T0 + i, 99.0 + i, 101.0 + i), offset=i)
    assert ctx.captured == []
    await asyncio.sleep(0)
    published = [ctx.codec.decode(v) for topic, _, v in ctx.captured if topic == t.PRICES.name]
    assert [(p.bid, p.seq) for p in published] == [(103.0, 5)]  # type: ignore[union-attr]

    state = prices.table.get(KEY)
    assert state is not None
    restored = msgspec.structs.replace(state, published=3)  # as a changelog may hold it
    prices.table.put(KEY, restored)
    ctx.captured.clear()
    await prices.sweep()
    assert [ctx.codec.decode(v).seq for _, _, v in ctx.captured if _ == KEY] == [5]  # type: ignore[union-attr]
    await prices.sweep()  # published now: nothing more
    assert len([1 for _, k, _v in ctx.captured if k == KEY]) == 1


def price_agent(name: str) -> tuple[Prices, FakeEvent]:
    """The price agent on its own; the event it is handling is kept alive by the caller."""
    settings = load_config(None, {})
    app = faust.App(name, broker="memory://", store="memory://")
    ctx = Context(settings, app, Codec(), ProcessorMetrics.on(CollectorRegistry()), captured=[])
    event = FakeEvent()
    _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    return Prices(ctx, Freshness(ctx)), event


async def test_the_price_of_a_ticker_read_after_a_newer_trade_keeps_the_tickers_bid() -> None:
    """The agent reads tickers and trades from two topics: a trade may come first though it is
    newer. The ticker's bid and ask still count; the trade still sets `last`."""
    prices, _event = price_agent("prices-order")
    await prices.on_ticker(ticker(T0, 99.0, 101.0), offset=0)
    await prices.on_trade(trade(T0 + 20, 105.0), offset=0)
    await prices.on_ticker(ticker(T0 + 10, 98.0, 100.0), offset=1)
    state = prices.table.get(KEY)
    assert state is not None
    assert state.price is not None
    assert (state.price.bid, state.price.last, state.price.exchange_ts) == (98.0, 105.0, T0 + 20)


async def test_a_price_state_written_before_parts_were_kept_goes_on_from_its_price() -> None:
    """A changelog written by the previous version holds the price only: it is the ticker part,
    so a late ticker still changes nothing and a newer trade moves `last`."""
    prices, _event = price_agent("prices-upgrade")
    old = msgspec.msgpack.encode({"price": ticker(T0 + 10, 99.0, 101.0), "updates": 1})
    prices.table.put(KEY, msgspec.msgpack.decode(old, type=PriceState))
    await prices.on_ticker(ticker(T0, 90.0, 91.0), offset=0)
    await prices.on_trade(trade(T0 + 20, 105.0), offset=0)
    state = prices.table.get(KEY)
    assert state is not None
    assert state.price is not None
    assert (state.price.bid, state.price.last, state.updates) == (99.0, 105.0, 2)


@pytest.mark.parametrize(("receipt_lag_s", "closes"), [(0.0, True), (120.0, False)])
async def test_a_quiet_window_closes_by_the_wall_clock_only_while_the_worker_is_live(
    receipt_lag_s: float, closes: bool
) -> None:
    """A trade of a window that ended two minutes ago, then no more trades for longer than the
    quiet period: the clock closes the window when that trade came live (processed as soon as
    it was received), and not when it came from a backlog (received two minutes before it was
    processed: the window's other trades may still be queued behind it)."""
    settings = load_config(None, {})
    app = faust.App(f"quiet-close-{int(closes)}", broker="memory://", store="memory://")
    sent: list[tuple[str, bytes | None, bytes]] = []
    ctx = Context(settings, app, Codec(), ProcessorMetrics.on(CollectorRegistry()), captured=sent)
    fresh = Freshness(ctx)
    candles = Candles(ctx, Prices(ctx, fresh), fresh)
    event = FakeEvent()
    _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    now = time.time_ns() // 1000
    window = now - 120_000_000 - now % 60_000_000  # a 1m window that ended over a minute ago
    late = msgspec.structs.replace(
        trade(window + 1_000_000, 100.0), received_ts=now - int(receipt_lag_s * 1e6)
    )
    await candles.on_trade(late, offset=0)

    idle_s = settings.processors.grace_seconds + QUIET_EXTRA_S + 1
    candles._last_active[KEY] -= idle_s  # the symbol has been quiet since
    sent.clear()
    await candles.tick()
    closed = [
        r
        for topic, _, v in sent
        if topic == t.CANDLES.name
        and isinstance(r := ctx.codec.decode(v), OHLCV)
        and r.closed
        and r.timeframe == "1m"
    ]
    if closes:
        assert [(c.open_ts, c.close, c.trades) for c in closed] == [(window, 100.0, 1)]
    else:
        assert closed == []


async def test_the_worker_consumer_fetches_with_the_configured_wait_and_size(
    processors: Processors,
) -> None:
    """faust fixes 1,500 ms, which a fetch of quiet partitions would hold the busy ones, and
    1 byte, which makes a loaded worker fetch after every few records."""
    app = processors.ctx.app
    consumer = app.consumer._thread._create_worker_consumer(app.transport)  # type: ignore[attr-defined]
    try:
        assert consumer._fetch_max_wait_ms == 10  # kafka.fetchMaxWaitMs, by default
        assert consumer._fetch_min_bytes == 16_384  # processors.fetchMinBytes, by default
    finally:
        await consumer.stop()
