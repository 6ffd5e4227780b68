"""The query API's read model feed against a real broker: it warms from what the topics already
hold (busy and quiet topics alike, read by its two consumers), turns ready only after both caught
up, then applies and pushes every new record of either kind.

Assets and symbols no other test uses, on the shared topics (the feed reads the real names)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_producer
from query_api.readmodel.feed import BUSY, Feed
from query_api.readmodel.store import TOPICS, ReadModel
from query_api.ws.fanout import Update
from schemas import topics as t
from schemas.books import BookState, apply_update, top_of
from schemas.codec import Codec
from schemas.models import Balance, BookUpdate, OrderBook, PriceLevel, PriceTicker, Trade
from tests.unit.schemas.examples import examples

pytestmark = pytest.mark.integration

NOW = time.time_ns() // 1000
EXAMPLES = {type(r): r for r in examples()}


def price(symbol: str, seq: int, bid: float) -> PriceTicker:
    example = EXAMPLES[PriceTicker]
    assert isinstance(example, PriceTicker)
    return msgspec.structs.replace(
        example, symbol=symbol, seq=seq, bid=bid, exchange_ts=NOW, received_ts=NOW
    )


def balance(asset: str, seq: int, total: float) -> Balance:
    example = EXAMPLES[Balance]
    assert isinstance(example, Balance)
    return msgspec.structs.replace(
        example,
        asset=asset,
        seq=seq,
        total=total,
        available=total,
        hold=0.0,
        exchange_ts=NOW,
        received_ts=NOW,
    )


async def until(check: object, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_feed(
    bootstrap: str, *, book_lookback_ms: int = 0
) -> AsyncIterator[tuple[ReadModel, list[Update], Feed]]:
    """A feed reading the real topics into a fresh model, ready; what it pushed, in order."""
    model = ReadModel()
    pushed: list[Update] = []
    feed = Feed(
        bootstrap, model, pushed.append, CollectorRegistry(), book_lookback_ms=book_lookback_ms
    )
    task = asyncio.create_task(feed.run())
    try:
        assert await feed.wait_ready(60), feed.progress
        yield model, pushed, feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()


def test_every_table_topic_is_read_by_exactly_one_consumer() -> None:
    names = {s.name for s in TOPICS}
    assert names > BUSY
    assert {s.name for s in (t.PRICES, t.BOOKS, t.CANDLES, t.INDICATORS)} == BUSY
    assert {t.BALANCES.name, t.STATUS.name, t.CONTROL.name} <= names - BUSY


async def test_the_feed_warms_from_busy_and_quiet_topics_then_follows_both(
    bootstrap: str,
) -> None:
    await ensure_topics(bootstrap)
    tag = uuid.uuid4().hex[:6].upper()
    symbol, asset = f"F{tag}/USD", f"F{tag}"
    codec = Codec()
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for seq in (1, 2):  # the second of each is what the model must hold
            p, b = price(symbol, seq, 100.0 * seq), balance(asset, seq, 1.0 * seq)
            await producer.send_and_wait(
                t.PRICES.name, codec.encode(p), key=f"kraken:{symbol}".encode()
            )
            await producer.send_and_wait(
                t.BALANCES.name, codec.encode(b), key=f"kraken:{asset}".encode()
            )

        async with running_feed(bootstrap) as (model, pushed, feed):
            # Ready means caught up on both consumers' topics, not only the first to finish.
            assert model.prices[f"kraken:{symbol}"].bid == 200.0
            assert model.balances[f"kraken:{asset}"].total == 2.0
            assert feed.progress.behind == 0
            assert feed.progress.error is None
            assert not [u for u in pushed if u.key in {f"kraken:{symbol}", f"kraken:{asset}"}], (
                "what was read while warming is state, not news"
            )

            await producer.send_and_wait(
                t.BALANCES.name,
                codec.encode(balance(asset, 3, 3.0)),
                key=f"kraken:{asset}".encode(),
            )
            await producer.send_and_wait(
                t.PRICES.name,
                codec.encode(price(symbol, 3, 300.0)),
                key=f"kraken:{symbol}".encode(),
            )
            await until(
                lambda: (
                    model.balances[f"kraken:{asset}"].total == 3.0
                    and model.prices[f"kraken:{symbol}"].bid == 300.0
                ),
                "the new balance and price",
            )
            await until(
                lambda: (
                    {("balances", f"kraken:{asset}"), ("prices", f"kraken:{symbol}")}
                    <= {(u.channel, u.key) for u in pushed}
                ),
                "both pushed to the fan-out",
            )
    finally:
        await producer.stop()


async def test_prices_move_on_raw_tickers_and_trades_and_the_tables_copy_is_not_pushed_twice(
    bootstrap: str,
) -> None:
    """No processor runs here: the price moves on md.ticker.v1 and md.trades.v1 alone (one hop),
    a ticker written before start-up is read from the tail, and the table's later record of the
    same moment changes nothing a client sees."""
    await ensure_topics(bootstrap)
    tag = uuid.uuid4().hex[:6].upper()
    symbol = f"R{tag}/USD"
    key = f"kraken:{symbol}"
    codec = Codec()
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        first = msgspec.structs.replace(price(symbol, 5, 100.0), exchange_ts=NOW - 2_000_000)
        await producer.send_and_wait(t.TICKER.name, codec.encode(first), key=key.encode())

        async with running_feed(bootstrap) as (model, pushed, _):
            assert model.prices[key].bid == 100.0, "the ticker tail is read while warming"

            second = msgspec.structs.replace(price(symbol, 6, 110.0), exchange_ts=NOW - 1_000_000)
            await producer.send_and_wait(t.TICKER.name, codec.encode(second), key=key.encode())
            trade = msgspec.structs.replace(
                EXAMPLES[Trade], symbol=symbol, price=111.5, exchange_ts=NOW, received_ts=NOW
            )
            await producer.send_and_wait(t.TRADES.name, codec.encode(trade), key=key.encode())
            await until(lambda: model.prices[key].last == 111.5, "the trade to move the price")
            prices = [u.payload for u in pushed if (u.channel, u.key) == ("prices", key)]
            assert prices, "the live price was pushed"
            latest = prices[-1]
            assert isinstance(latest, PriceTicker)
            assert (latest.bid, latest.last, latest.exchange_ts, latest.seq) == (
                110.0,
                111.5,
                NOW,
                0,
            )

            table = msgspec.structs.replace(latest, seq=2)  # the processor's record, later
            await producer.send_and_wait(t.PRICES.name, codec.encode(table), key=key.encode())
            await until(lambda: model.prices[key].seq == 2, "the table's record to be taken")
            again = [u for u in pushed if (u.channel, u.key) == ("prices", key)]
            assert len(again) == len(prices), "the table's copy of a shown price is not pushed"
    finally:
        await producer.stop()


def book_update(symbol: str, bid: float, ts: int, *, snapshot: bool = False) -> BookUpdate:
    return BookUpdate(
        exchange="kraken",
        symbol=symbol,
        is_snapshot=snapshot,
        bids=[PriceLevel(bid, 1.0)],
        asks=[PriceLevel(bid + 10, 1.0)] if snapshot else [],
        depth=10,
        exchange_ts=ts,
        received_ts=ts,
        price_precision=1,
        size_precision=8,
    )


def built(*updates: BookUpdate) -> OrderBook:
    state: BookState | None = None
    for u in updates:
        state = apply_update(state, u)
    assert state is not None
    return top_of(state, 25, seq=state.updates)


async def test_books_are_built_from_the_raw_updates_since_the_last_snapshot_in_the_lookback(
    bootstrap: str,
) -> None:
    """No processor runs: the book comes from md.book.v1 alone. The recent snapshot and its
    delta build the book while warming (an older snapshot, and a delta with no snapshot before
    it in the lookback, change nothing), a live delta is pushed, and the table's later copy of
    the same state is not."""
    await ensure_topics(bootstrap)
    tag = uuid.uuid4().hex[:6].upper()
    symbol = f"B{tag}/USD"
    key = f"kraken:{symbol}"
    codec = Codec()
    now_ms = time.time_ns() // 1_000_000
    stale = book_update(symbol, 50.0, NOW - 600_000_000, snapshot=True)
    orphan = book_update(symbol, 51.0, NOW - 3_000_000)
    recent = book_update(symbol, 100.0, NOW - 2_000_000, snapshot=True)
    delta = book_update(symbol, 99.0, NOW - 1_000_000)
    live = book_update(symbol, 98.0, NOW)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for record, stamp in (
            (stale, now_ms - 600_000),
            (orphan, now_ms - 3_000),
            (recent, now_ms - 2_000),
            (delta, now_ms - 1_000),
        ):
            await producer.send_and_wait(
                t.BOOK.name, codec.encode(record), key=key.encode(), timestamp_ms=stamp
            )
        async with running_feed(bootstrap, book_lookback_ms=60_000) as (model, pushed, _):
            assert model.books[key] == built(recent, delta), "built while warming"
            await producer.send_and_wait(t.BOOK.name, codec.encode(live), key=key.encode())
            await until(lambda: model.books[key].exchange_ts == NOW, "the live delta")
            books = [u.payload for u in pushed if (u.channel, u.key) == ("book", key)]
            assert books == [built(recent, delta, live)]
            copy = built(recent, delta, live)  # the processor's record of the same state
            await producer.send_and_wait(t.BOOKS.name, codec.encode(copy), key=key.encode())
            await asyncio.sleep(0.5)
            assert [u for u in pushed if (u.channel, u.key) == ("book", key)] == pushed[-1:]
            assert model.books[key] == copy
    finally:
        await producer.stop()
