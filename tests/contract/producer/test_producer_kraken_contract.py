"""The Kraken adapter against the protocol-faithful simulator, including every injected fault."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from producers.core.orderbook import OrderBook
from producers.errors import ExchangeError
from producers.exchanges.kraken.checksum import book_checksum
from producers.runner import on_control
from schemas.books import BookState, apply_update
from schemas.models import (
    OHLCV,
    Balance,
    BookUpdate,
    ConnectionState,
    ConnectionStatus,
    PriceTicker,
    Subscription,
    SubscriptionAction,
    SubscriptionStatus,
    Trade,
)
from tests.contract.producer.producer_harness import running_producer, wait_for

pytestmark = pytest.mark.slow

SYMBOLS = {"BTC/USD", "ETH/USD", "SOL/USD"}


def _rebuild(updates: list[BookUpdate], symbol: str) -> OrderBook:
    """Replay the published book stream the way a consumer would, verifying every checksum."""
    book: OrderBook | None = None
    for u in (u for u in updates if u.symbol == symbol):
        if u.is_snapshot or book is None:
            assert u.is_snapshot, "a consumer must be able to start from a snapshot"
            book = OrderBook(u.depth, u.price_precision, u.size_precision)
            book.apply_snapshot(u.bids, u.asks)
        else:
            book.apply_update(u.bids, u.asks)
        assert book_checksum(*book.text_levels()) == u.checksum, f"{symbol} seq {u.seq}"
    assert book is not None
    return book


async def test_streams_are_published_as_unified_models_with_valid_books() -> None:
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: {t.symbol for t in p.of("md.ticker.v1")} >= SYMBOLS, what="tickers")
        await wait_for(lambda: {b.symbol for b in p.of("md.book.v1")} >= SYMBOLS, what="books")
        await wait_for(lambda: len(p.of("md.trades.v1")) >= 5, what="trades")
        await wait_for(lambda: len(p.of("md.balances.v1")) >= 1, what="balances")

        tickers = [t for t in p.of("md.ticker.v1") if isinstance(t, PriceTicker)]
        assert all(t.exchange == "kraken" and t.bid <= t.ask for t in tickers)
        assert all(
            t.exchange_ts > 0 and t.received_ts >= t.exchange_ts - 5_000_000 for t in tickers
        )
        trades = [t for t in p.of("md.trades.v1") if isinstance(t, Trade)]
        assert {t.symbol for t in trades} <= SYMBOLS  # canonical names only, never XBT
        assert all(t.side.value in ("buy", "sell") and t.price > 0 and t.qty > 0 for t in trades)
        books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
        for symbol in SYMBOLS:
            _rebuild(books, symbol)
        candles = [c for c in p.of("md.ohlc.v1") if isinstance(c, OHLCV)]
        assert any(c.closed for c in candles), "REST history backfill publishes closed candles"
        assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
        balances = [b for b in p.of("md.balances.v1") if isinstance(b, Balance)]
        assert {b.asset for b in balances} & {"BTC", "USD"}
        statuses = [s for s in p.of("md.status.v1") if isinstance(s, ConnectionStatus)]
        assert ConnectionState.SUBSCRIBED in {s.state for s in statuses}
        # Raw frames go out in batches closed by a timer (rawBatchMs): on a busy machine the
        # first may close after the parsed records above arrived.
        await wait_for(lambda: bool(p.of("md.raw.v1")), what="raw frames kept for audit")


async def test_a_corrupted_checksum_resyncs_that_symbol_and_publishes_nothing_corrupt() -> None:
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: {b.symbol for b in p.of("md.book.v1")} >= SYMBOLS, what="books")
        before = len(p.of("md.book.v1"))
        await run.sim.control.inject("corrupt_checksum:BTC/USD")
        await wait_for(
            lambda: run.metric("marketdata_producer_resyncs_total", exchange="kraken") >= 1,
            what="resync",
        )
        await wait_for(
            lambda: (
                sum(
                    1
                    for b in p.of("md.book.v1")[before:]
                    if b.symbol == "BTC/USD" and b.is_snapshot
                )
                >= 1
            ),
            what="fresh snapshot",
        )
        resyncs = [
            s
            for s in p.of("md.status.v1")
            if isinstance(s, ConnectionStatus) and s.state is ConnectionState.RESYNCING
        ]
        assert resyncs
        assert resyncs[0].symbol == "BTC/USD"
        assert run.metric("marketdata_producer_checksum_failures_total", exchange="kraken") >= 1
        books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
        for symbol in SYMBOLS:  # every published book message still verifies
            _rebuild(books, symbol)
        assert run.adapter.public.reconnects == 0, "a resync never recycles the connection"


@pytest.mark.parametrize("fault", ["drop", "drop:1001"])
async def test_a_dropped_connection_reconnects_and_resubscribes(fault: str) -> None:
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: len(p.of("md.book.v1")) > 3, what="books")
        await run.sim.control.inject(fault)
        await wait_for(lambda: run.adapter.public.reconnects >= 1, what="reconnect")
        mark = len(p.of("md.book.v1"))
        await wait_for(
            lambda: {b.symbol for b in p.of("md.book.v1")[mark:] if b.is_snapshot} >= SYMBOLS,
            what="resubscribed snapshots",
        )
        states = [s.state for s in p.of("md.status.v1") if isinstance(s, ConnectionStatus)]
        assert ConnectionState.DISCONNECTED in states
        assert ConnectionState.RECONNECTING in states


async def test_a_silent_socket_is_recycled_by_the_watchdog() -> None:
    async with running_producer(heartbeat_timeout_seconds=1.0) as run:
        await wait_for(lambda: len(run.published.of("md.book.v1")) > 3, what="books")
        await run.sim.control.inject("stall:4")
        await wait_for(lambda: run.adapter.public.reconnects >= 1, timeout=10, what="recycle")
        details = [
            s.detail for s in run.published.of("md.status.v1") if isinstance(s, ConnectionStatus)
        ]
        assert any("silent" in d for d in details)


@pytest.mark.parametrize("fault", ["malformed", "truncated", "oversized"])
async def test_bad_frames_are_counted_and_never_stop_the_producer(fault: str) -> None:
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: len(p.of("md.book.v1")) > 3, what="books")
        await run.sim.control.inject(fault)
        await wait_for(
            lambda: run.metric("marketdata_producer_parse_errors_total", exchange="kraken") >= 1,
            what="parse error counted",
        )
        mark = len(p.of("md.ticker.v1")) + len(p.of("md.book.v1"))
        await wait_for(
            lambda: len(p.of("md.ticker.v1")) + len(p.of("md.book.v1")) > mark + 3,
            what="data keeps flowing",
        )


async def test_refused_connections_are_retried_with_backoff() -> None:
    async with running_producer() as run:
        await wait_for(lambda: len(run.published.of("md.book.v1")) > 3, what="books")
        await run.sim.control.inject("refuse:2")
        await run.sim.control.inject("drop")
        await wait_for(lambda: run.adapter.public.reconnects >= 2, timeout=15, what="retries")
        mark = len(run.published.of("md.book.v1"))
        await wait_for(
            lambda: len(run.published.of("md.book.v1")) > mark + 3, timeout=15, what="recovered"
        )
        delays = [
            s.delay_seconds
            for s in run.published.of("md.status.v1")
            if isinstance(s, ConnectionStatus) and s.state is ConnectionState.RECONNECTING
        ]
        assert delays
        assert all(d is not None and 0 <= d <= 0.5 for d in delays)


async def test_rest_rate_limit_answers_back_off_and_recover() -> None:
    async with running_producer() as run:
        await wait_for(lambda: len(run.published.of("md.balances.v1")) >= 1, what="balances")
        await run.sim.control.inject("rate_limit:3")
        with pytest.raises(ExchangeError, match="Rate limit exceeded") as refused:
            await run.adapter.balances()
        assert refused.value.retryable
        assert refused.value.rate_limited
        assert run.adapter.rest.rate_limit_used > 0


async def test_control_subscribe_and_unsubscribe_on_the_live_connection() -> None:
    async with running_producer() as run:
        await wait_for(lambda: len(run.published.of("md.book.v1")) > 3, what="books")
        assert await run.adapter.subscribe("DOGE/EUR", ["ticker"]) is not None  # unknown pair
        assert await run.adapter.unsubscribe("SOL/USD", []) is None
        assert "SOL/USD" not in run.adapter.symbols
        mark = len(run.published.of("md.ticker.v1"))
        await wait_for(lambda: len(run.published.of("md.ticker.v1")) > mark + 5, what="tickers")
        await wait_for(
            lambda: all(t.symbol != "SOL/USD" for t in run.published.of("md.ticker.v1")[-3:]),
            what="SOL/USD stops",
        )


async def test_a_skipped_book_update_is_caught_by_the_checksum_and_resynced() -> None:
    # A skipped update is only detectable while its effect is still inside the top 10 levels;
    # a later update can heal it by chance, so the fault is repeated until one is caught.
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: {b.symbol for b in p.of("md.book.v1")} >= SYMBOLS, what="books")
        for _ in range(5):
            await run.sim.control.inject("skip_book_update:ETH/USD")
            try:
                await wait_for(
                    lambda: run.metric("marketdata_producer_resyncs_total", exchange="kraken") >= 1,
                    timeout=3,
                )
                break
            except AssertionError:
                continue
        assert run.metric("marketdata_producer_resyncs_total", exchange="kraken") >= 1
        books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
        _rebuild(books, "ETH/USD")


async def test_snapshots_lost_after_a_reconnect_are_asked_for_again_and_reported() -> None:
    # The exchange stalls right after the reconnect: the answers to the resubscription are lost
    # while the socket stays (shorter than the 3 s silence timeout).
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: {b.symbol for b in p.of("md.book.v1")} >= SYMBOLS, what="books")
        await run.sim.control.inject("drop")
        await run.sim.control.inject("stall:1.5")
        await wait_for(lambda: run.adapter.public.reconnects >= 1, what="reconnect")
        mark = len(p.of("md.book.v1"))

        def asked_again() -> set[str]:
            return {
                s.symbol or ""
                for s in p.of("md.status.v1")
                if isinstance(s, ConnectionStatus)
                and s.state is ConnectionState.RESYNCING
                and "no snapshot" in s.detail
            }

        await wait_for(lambda: asked_again() >= SYMBOLS, what="snapshots asked for again")
        await wait_for(
            lambda: {b.symbol for b in p.of("md.book.v1")[mark:] if b.is_snapshot} >= SYMBOLS,
            what="fresh snapshots",
        )
        assert run.metric("marketdata_producer_resyncs_total", exchange="kraken") >= len(SYMBOLS)
        assert run.adapter.public.reconnects == 1, "asking again never recycles the connection"
        books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
        for symbol in SYMBOLS:
            _rebuild(books, symbol)


async def test_trades_lost_in_a_stall_are_reported_as_a_trade_gap() -> None:
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: len(p.of("md.trades.v1")) >= 3, what="trades")
        await run.sim.control.inject("stall:1")
        await wait_for(
            lambda: (
                run.metric("marketdata_producer_gaps_total", exchange="kraken", kind="trade") >= 1
            ),
            what="trade gap",
        )
        gaps = [
            s
            for s in p.of("md.status.v1")
            if isinstance(s, ConnectionStatus) and s.detail.startswith("trade gap: ")
        ]
        assert gaps
        assert all(s.symbol in SYMBOLS for s in gaps)
        trades = [t for t in p.of("md.trades.v1") if isinstance(t, Trade)]
        for report in gaps:  # the report names the last trade before the hole
            after = report.detail.rsplit(" ", 1)[-1]
            assert any(t.symbol == report.symbol and t.trade_id == after for t in trades)
        assert run.adapter.public.reconnects == 0


async def test_a_duplicated_trade_is_published_once_and_counted() -> None:
    async with running_producer() as run:
        p = run.published
        await wait_for(lambda: len(p.of("md.trades.v1")) >= 3, what="trades")
        await run.sim.control.inject("duplicate_trade:BTC/USD")
        await wait_for(
            lambda: (
                run.metric(
                    "marketdata_producer_gaps_total", exchange="kraken", kind="trade_duplicate"
                )
                >= 1
            ),
            what="duplicate seen",
        )
        ids = [(t.symbol, t.trade_id) for t in p.of("md.trades.v1") if isinstance(t, Trade)]
        assert len(ids) == len(set(ids))


async def test_rest_depth_and_trades_snapshots() -> None:
    async with running_producer() as run:
        await wait_for(lambda: len(run.published.of("md.book.v1")) > 3, what="books")
        book = await run.adapter.depth("BTC/USD", 25)
        assert book.is_snapshot
        assert book.checksum is None
        assert 0 < len(book.bids) <= 25
        assert [b.price for b in book.bids] == sorted((b.price for b in book.bids), reverse=True)
        assert [a.price for a in book.asks] == sorted(a.price for a in book.asks)
        assert book.bids[0].price < book.asks[0].price
        assert book.price_precision == 1

        trades, cursor = await run.adapter.recent_trades("ETH/USD")
        assert trades
        assert cursor.isdigit()
        assert all(t.symbol == "ETH/USD" and t.price > 0 for t in trades)
        ids = [int(t.trade_id) for t in trades]
        assert ids == sorted(ids)
        later, _ = await run.adapter.recent_trades("ETH/USD", since=cursor)
        assert all(int(t.trade_id) > ids[-1] for t in later)


async def test_replayed_control_answers_converge_without_answering_again() -> None:
    async with running_producer() as run:
        await wait_for(lambda: len(run.published.of("md.ticker.v1")) > 3, what="tickers")
        removed = Subscription(
            exchange="kraken",
            symbol="SOL/USD",
            channels=[],
            action=SubscriptionAction.UNSUBSCRIBE,
            status=SubscriptionStatus.REMOVED,
            ts=1,
        )
        assert await on_control(run.adapter, removed, run.published) is None
        assert "SOL/USD" not in run.adapter.symbols

        active = msgspec.structs.replace(
            removed, action=SubscriptionAction.SUBSCRIBE, status=SubscriptionStatus.ACTIVE
        )
        assert await on_control(run.adapter, active, run.published) is None
        assert "SOL/USD" in run.adapter.symbols
        mark = len(run.published.of("md.ticker.v1"))
        await wait_for(
            lambda: any(t.symbol == "SOL/USD" for t in run.published.of("md.ticker.v1")[mark:]),
            what="SOL/USD flows again",
        )
        assert not run.published.of("md.control.v1")  # answers are never answered


@pytest.mark.parametrize(
    ("compression", "extensions"), [(False, []), (True, ["permessage-deflate"])]
)
async def test_websocket_compression_is_offered_only_when_configured(
    compression: bool, extensions: list[str]
) -> None:
    async with running_producer(ws_compression=compression) as run:
        p = run.published
        await wait_for(lambda: len(p.of("md.trades.v1")) >= 3, what="trades")
        ws = run.adapter.ws.public._ws
        assert ws is not None
        assert [e.name for e in ws.protocol.extensions] == extensions
        books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
        for symbol in {b.symbol for b in books}:
            _rebuild(books, symbol)  # checksums hold either way


async def test_a_live_book_is_also_published_whole_and_a_reader_can_start_there() -> None:
    """`bookSnapshotMs`: between the exchange's snapshots, the producer publishes its verified
    book as a snapshot once it is due. A reader that starts at any of those builds, from there
    on, exactly the book of a reader that started at the connection (`schemas.books`, what the
    processors and the API run)."""
    async with running_producer(book_snapshot_ms=200) as run:
        p = run.published

        def ours(symbol: str) -> int:
            books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
            return sum(1 for b in books if b.symbol == symbol and b.is_snapshot) - 1

        await wait_for(lambda: all(ours(s) >= 3 for s in SYMBOLS), what="our own snapshots")
    books = [b for b in p.of("md.book.v1") if isinstance(b, BookUpdate)]
    for symbol in SYMBOLS:
        updates = [b for b in books if b.symbol == symbol]
        starts = [i for i, u in enumerate(updates) if u.is_snapshot]
        assert starts[0] == 0
        for i in starts[1:]:  # right after the delta that made it due, at its time
            snapshot, delta = updates[i], updates[i - 1]
            assert (snapshot.exchange_ts, snapshot.checksum) == (delta.exchange_ts, delta.checksum)
        # the gaps between snapshots are at least the interval (received times, microseconds)
        times = [updates[i].received_ts for i in starts]
        assert all(b - a >= 200_000 for a, b in itertools.pairwise(times))
        full: BookState | None = None
        late: dict[int, BookState | None] = {}  # a reader per start
        for i, update in enumerate(updates):
            full = apply_update(full, update)
            if i in starts:
                late[i] = None
            for start, before in late.items():
                state = late[start] = apply_update(before, update)
                assert state is not None
                assert full is not None
                assert (state.bids, state.asks) == (full.bids, full.asks), (symbol, start, i)
        _rebuild(updates, symbol)  # every checksum holds through our snapshots too
