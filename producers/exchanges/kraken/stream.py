"""Kraken frames as published records: what each WebSocket frame becomes on Kafka.

Every frame goes to md.raw.v1 as received (in batches per connection, `producers.core.rawbatch`),
then by channel: tickers, trades (duplicates by trade id dropped, gaps counted and reported on
md.status.v1), books (checksum verified after every message; a mismatch asks for a resync of that
symbol and nothing from the corrupt book is published; a live book also goes out whole every
`book_snapshot_us` while it changes), candles, instrument precisions and balances. No I/O of its
own: frames come from the sessions, records go to the publisher, and a resync is asked of whoever
owns the WebSocket.

Forming candles are conflated per (symbol, timeframe): Kraken repeats the whole candle after every
trade for every subscribed interval, so a window's candles go out at most once per
`ohlc_conflate_seconds`, and every window's final value always goes out, in order
(`producers.core.conflate`). What was held back is released by the owner of the connection's
lifecycle: `publish_due` on a timer, `drain` on disconnect and on stop (both also close the raw
batches). REST history goes out as is (`publish_candle`), never conflated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec
from prometheus_client import Counter

from marketdata.logs import get_logger
from producers.core.conflate import Conflator
from producers.core.rawbatch import RawBatcher
from producers.errors import ChecksumMismatch, ParseError
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse
from producers.exchanges.kraken.books import KrakenBooks
from producers.publish import Publisher
from producers.status import ProducerMetrics, StatusReporter
from schemas import topics
from schemas.models import OHLCV, Balance, BookUpdate, PriceLevel, RawFrames, Record

log = get_logger("producers.kraken")
EXCHANGE = "kraken"
PUBLIC, PRIVATE = "public", "private"
"""Connection ids: md.raw.v1 keeps each connection's frames apart, in the order received."""

Resync = Callable[[str, str], Awaitable[None]]
"""Drop one symbol's book and ask for a fresh snapshot: (symbol, reason)."""


class KrakenStream:
    def __init__(
        self,
        book_depth: int,
        publisher: Publisher,
        status: StatusReporter,
        metrics: ProducerMetrics,
        resync: Resync,
        *,
        ohlc_conflate_seconds: float,
        raw_batch_seconds: float = 0.0,
        book_snapshot_us: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._depth = book_depth
        self._book_snapshot_us = book_snapshot_us
        self._book_snapshot_at: dict[str, int] = {}
        """Symbol -> receipt time of its last snapshot published (the exchange's or ours)."""
        self._publisher = publisher
        self._status = status
        self._metrics = metrics
        self._resync = resync
        self.books = KrakenBooks(book_depth)
        self.precision: dict[str, parse.Precision] = {}
        self._last_trade_id: dict[str, int] = {}
        # Label lookups cost more than the increment: one child per channel, looked up once.
        self._frames_by_channel: dict[str, Counter] = {}
        self._candles: Conflator[OHLCV] | None = None
        if ohlc_conflate_seconds > 0:
            self._candles = Conflator(ohlc_conflate_seconds, clock)
        self._conflated = metrics.conflated.labels(EXCHANGE, topics.OHLC.name)
        self._raw = RawBatcher(EXCHANGE, raw_batch_seconds, clock=clock)
        # The timer's and the disconnect's releases await the publisher between candles: without
        # the lock a fresher candle of a key released but not yet published could overtake it.
        self._candles_lock = asyncio.Lock()

    def precision_of(self, symbol: str) -> parse.Precision:
        return self.precision.get(symbol) or parse.Precision(8, 8)

    async def _publish(self, topic: topics.TopicSpec, key: str, record: Record, ts: int) -> None:
        await self._publisher.publish(topic, key, record, ts)

    async def on_frame(
        self, frame: str | bytes, received_ts: int, connection: str = PUBLIC
    ) -> None:
        self._status.last_message_ts = received_ts
        payload = frame.encode() if isinstance(frame, str) else frame
        try:
            msg = m.decode_frame(payload)
        except ParseError as exc:
            self._metrics.parse_errors.labels(EXCHANGE).inc()
            log.warning("frame.unparsed", error=str(exc)[:300])
            await self._publish_raw(connection, "unparsed", payload, received_ts)
            return
        channel = str(getattr(msg, "channel", None) or getattr(msg, "method", "other"))
        frames = self._frames_by_channel.get(channel)
        if frames is None:
            frames = self._frames_by_channel[channel] = self._metrics.messages.labels(
                EXCHANGE, channel
            )
        frames.inc()
        await self._publish_raw(connection, channel, payload, received_ts)
        await self._dispatch(msg, received_ts)

    async def _publish_raw(
        self, connection: str, channel: str, payload: bytes, received_ts: int
    ) -> None:
        for batch in self._raw.add(connection, channel, payload, received_ts):
            await self._publish_raw_batch(batch)

    async def _publish_raw_batch(self, batch: RawFrames) -> None:
        # An audit record never waits for room in the backlog (it is shed instead), so batches
        # closed here and by the timer cannot overtake each other.
        key = f"{EXCHANGE}:{batch.connection_id}"
        await self._publisher.publish(topics.RAW, key, batch, batch.frames[-1].received_ts)

    async def _dispatch(self, msg: m.KrakenFrame, received_ts: int) -> None:
        match msg:
            case m.KrakenBookMsg():
                await self._on_book(msg, received_ts)
            case m.KrakenTradeMsg():
                await self._on_trades(msg, received_ts)
            case m.KrakenTickerMsg():
                for ticker in parse.parse_ticker(msg, received_ts, self.precision_of):
                    await self._publish(
                        topics.TICKER, f"{EXCHANGE}:{ticker.symbol}", ticker, ticker.exchange_ts
                    )
            case m.KrakenOhlcMsg():
                await self._on_candles(parse.parse_ohlc(msg, received_ts, self.precision_of))
            case m.KrakenInstrumentMsg():
                self.precision.update(parse.parse_instrument(msg))
            case m.KrakenBalancesMsg():
                for balance in parse.parse_balances(msg, received_ts):
                    await self.publish_balance(balance)
            case m.KrakenAckMsg() if not msg.success:
                await self._on_rejected(msg)
            case _:
                pass  # status, heartbeat, pong and successful acks carry nothing to publish

    async def _on_rejected(self, ack: m.KrakenAckMsg) -> None:
        log.error("kraken.request_rejected", method=ack.method, error=ack.error, symbol=ack.symbol)
        await self._status.report(
            self._status.state, f"{ack.method} rejected: {ack.error}", symbol=ack.symbol
        )

    async def _on_trade_gap(self, symbol: str, last: int, next_id: int) -> None:
        """Trade ids count a pair's trades one by one, so a hole means trades were lost: frames
        withheld or cut, or missed while reconnecting (trades are subscribed without a snapshot,
        so a reconnect never repeats them; what it skips is a real loss). Every hole is counted,
        logged and reported on md.status.v1 for the symbol, before the trade after it."""
        missing = next_id - last - 1
        self._metrics.gaps.labels(EXCHANGE, "trade").inc()
        log.warning("trade.gap_detected", symbol=symbol, after=last, next=next_id, missing=missing)
        await self._status.report(
            self._status.state, f"trade gap: {missing} missing after {last}", symbol=symbol
        )

    async def _on_trades(self, msg: m.KrakenTradeMsg, received_ts: int) -> None:
        for trade in parse.parse_trades(msg, received_ts, self.precision_of):
            trade_id = int(trade.trade_id)
            last = self._last_trade_id.get(trade.symbol)
            if last is not None and trade_id > last + 1:
                await self._on_trade_gap(trade.symbol, last, trade_id)
            if last is not None and trade_id <= last:
                self._metrics.gaps.labels(EXCHANGE, "trade_duplicate").inc()
                log.warning("trade.duplicate_skipped", symbol=trade.symbol, trade_id=trade_id)
                continue
            self._last_trade_id[trade.symbol] = trade_id
            await self._publish(
                topics.TRADES, f"{EXCHANGE}:{trade.symbol}", trade, trade.exchange_ts
            )

    async def _on_book(self, msg: m.KrakenBookMsg, received_ts: int) -> None:
        snapshot = msg.type == "snapshot"
        for item in msg.data:
            symbol, precision = item.symbol, self.precision_of(item.symbol)
            bids, asks = item.bids, item.asks  # decoded as `PriceLevel`s already (messages.py)
            try:
                if not self.books.apply(
                    symbol,
                    snapshot,
                    bids,
                    asks,
                    item.checksum,
                    precision.price_precision,
                    precision.qty_precision,
                ):
                    continue  # awaiting the fresh snapshot: updates to a dropped book mean nothing
            except ChecksumMismatch as exc:
                self._metrics.checksum_failures.labels(EXCHANGE).inc()
                log.warning(
                    "book.checksum_failed", symbol=symbol, expected=exc.expected, got=exc.got
                )
                await self._resync(symbol, f"checksum {exc.got} != {exc.expected}")
                continue
            if not snapshot and (book := self.books.book(symbol)) is not None:
                # The levels this update pushed past the depth, deleted explicitly: a reader
                # then needs no truncation rule, and deltas merge exactly (producers.publish).
                gone_bids, gone_asks = book.truncated()
                if gone_bids:
                    bids = [*bids, *(PriceLevel(price, 0.0) for price in gone_bids)]
                if gone_asks:
                    asks = [*asks, *(PriceLevel(price, 0.0) for price in gone_asks)]
            exchange_ts = parse.rfc3339_micros(item.timestamp) if item.timestamp else received_ts
            update = parse.book_update(
                symbol,
                snapshot,
                bids,
                asks,
                item.checksum,
                self._depth,
                exchange_ts,
                received_ts,
                precision,
            )
            await self._publisher.publish(topics.BOOK, f"{EXCHANGE}:{symbol}", update, exchange_ts)
            if snapshot:
                self._book_snapshot_at[symbol] = received_ts
            elif self._book_snapshot_us and (
                received_ts - self._book_snapshot_at.get(symbol, 0) >= self._book_snapshot_us
            ):
                await self._publish_book_snapshot(symbol, update)

    async def _publish_book_snapshot(self, symbol: str, after: BookUpdate) -> None:
        """The verified book as a snapshot, right after the update `after` that made it due (same
        times, same checksum): a reader can start from it instead of the connection's start."""
        book = self.books.book(symbol)
        if book is None:
            return
        snapshot = msgspec.structs.replace(
            after,
            is_snapshot=True,
            bids=[PriceLevel(price, qty) for price, qty in book.bids()],
            asks=[PriceLevel(price, qty) for price, qty in book.asks()],
        )
        self._book_snapshot_at[symbol] = after.received_ts
        await self._publisher.publish(
            topics.BOOK, f"{EXCHANGE}:{symbol}", snapshot, snapshot.exchange_ts
        )

    async def _on_candles(self, candles: list[OHLCV]) -> None:
        if self._candles is None:
            for candle in candles:
                await self.publish_candle(candle)
            return
        async with self._candles_lock:
            conflated = self._candles.conflated
            for candle in candles:
                key = (candle.symbol, candle.timeframe)
                for out in self._candles.offer(key, candle.open_ts, candle):
                    await self.publish_candle(out)
            if saved := self._candles.conflated - conflated:
                self._conflated.inc(saved)

    async def publish_due(self) -> None:
        """The forming candles held back for a whole interval and the raw batches that are old
        enough (call it on a timer)."""
        for batch in self._raw.due():
            await self._publish_raw_batch(batch)
        if self._candles is not None:
            async with self._candles_lock:
                for candle in self._candles.due():
                    await self.publish_candle(candle)

    async def drain(self) -> None:
        """Every raw frame and forming candle held back, now: on disconnect and on stop, so that
        nothing waits for a connection that may never come back."""
        for batch in self._raw.drain():
            await self._publish_raw_batch(batch)
        if self._candles is not None:
            async with self._candles_lock:
                for candle in self._candles.drain():
                    await self.publish_candle(candle)

    async def publish_candle(self, candle: OHLCV) -> None:
        """One candle as is: REST history, and what conflation lets through."""
        key = f"{EXCHANGE}:{candle.symbol}"  # by symbol: co-partitioned with its trades
        await self._publish(topics.OHLC, key, candle, candle.exchange_ts)

    async def publish_balance(self, balance: Balance) -> None:
        await self._publish(
            topics.BALANCES, f"{EXCHANGE}:{balance.asset}", balance, balance.exchange_ts
        )
