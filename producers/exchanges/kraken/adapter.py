"""The Kraken adapter: WebSocket v2 streams and REST, turned into unified models on Kafka.

Public stream: instrument (precisions), ticker, trade, book (checksum verified after every
message, truncated to the subscribed depth) and ohlc. A checksum mismatch resyncs that symbol
alone (unsubscribe + subscribe for a fresh snapshot) and nothing from the corrupt book is
published. Private stream: balances, with a fresh token per connection; REST Balance polling
stands in while the private stream is down. REST also backfills OHLC history at start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from marketdata.config import ExchangeSettings
from marketdata.logs import get_logger
from producers.core.backoff import Backoff
from producers.core.circuit import CircuitBreaker
from producers.core.ratelimit import ClientLimiter, KrakenCallCounter
from producers.core.session import SessionEvent, WsSession
from producers.errors import ChecksumMismatch, ExchangeError, ParseError
from producers.exchanges.kraken import messages as m
from producers.exchanges.kraken import parse, snapshots
from producers.exchanges.kraken.books import KrakenBooks
from producers.exchanges.kraken.rest import KrakenRest
from producers.exchanges.kraken.symbols import SymbolMap
from producers.publish import Publisher
from producers.runner import AdapterFactory
from producers.status import ProducerMetrics, StatusReporter
from schemas import topics
from schemas.models import OHLCV, Balance, BookUpdate, ConnectionState, RawFrame, Record, Trade

log = get_logger("producers.kraken")
EXCHANGE = "kraken"
PUBLIC_CHANNELS = ("ticker", "trade", "book", "ohlc")
SNAPSHOT_STAGGER_SECONDS = 0.05  # books one at a time, so snapshots don't arrive as one burst


class KrakenAdapter:
    name = EXCHANGE

    def __init__(
        self,
        settings: ExchangeSettings,
        publisher: Publisher,
        status: StatusReporter,
        metrics: ProducerMetrics,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._status = status
        self._metrics = metrics
        ws_url, ws_auth_url, rest_url = settings.urls(EXCHANGE)
        circuit = CircuitBreaker(
            settings.circuit_breaker.failure_threshold,
            settings.circuit_breaker.reset_seconds,
            on_change=lambda s: self._spawn(
                self._status.report(self._status.state, f"REST circuit {s.value}")
            ),
        )
        self.rest = KrakenRest(
            rest_url,
            circuit=circuit,
            counter=KrakenCallCounter(),
            limiter=ClientLimiter(
                settings.rate_limit.requests_per_second, settings.rate_limit.requests_per_minute
            ),
            api_key=settings.api_key,
            secret=settings.secret_key,
            timeout=settings.connect_timeout_seconds,
        )
        status.bind(
            rate_limit_used=lambda: self.rest.rate_limit_used,
            circuit=lambda: self.rest.circuit_state,
        )
        self._wanted: list[str] = list(settings.symbols)
        self._map = SymbolMap()
        self._precision: dict[str, parse.Precision] = {}
        self._books = KrakenBooks(settings.book_depth)
        self._last_trade_id: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.public = self._session(
            ws_url, "kraken-public", self._on_public_connect, settings.heartbeat_timeout_seconds
        )
        self.private: WsSession | None = None
        if settings.private_enabled:
            # Private streams are quiet between ledger entries: only heartbeats keep them alive.
            self.private = self._session(
                ws_auth_url,
                "kraken-private",
                self._on_private_connect,
                max(30.0, settings.heartbeat_timeout_seconds),
            )
        else:
            log.warning("kraken.private_disabled", reason="no API key and secret configured")

    def _session(
        self,
        url: str,
        name: str,
        on_connect: Callable[[WsSession], Awaitable[None]],
        silence_timeout: float,
    ) -> WsSession:
        backoff = self._settings.backoff
        return WsSession(
            url,
            name=name,
            on_connect=on_connect,
            on_frame=self._on_frame,
            on_event=self._on_session_event,
            backoff=Backoff(backoff.initial_seconds, backoff.max_seconds, backoff.multiplier),
            connect_timeout=self._settings.connect_timeout_seconds,
            silence_timeout=silence_timeout,
        )

    @property
    def symbols(self) -> Sequence[str]:
        return tuple(self._wanted)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, topic: topics.TopicSpec, key: str, record: Record, ts: int) -> None:
        await self._publisher.publish(topic, key, record, ts)

    # ---- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._load_pairs()
        unknown = [s for s in self._wanted if s not in self._map]
        for symbol in unknown:
            self._wanted.remove(symbol)
            await self._status.report(
                ConnectionState.CONNECTING, f"rejected {symbol}: unknown to Kraken", symbol=symbol
            )
        jobs = [self.public.run(), self._backfill_all()]
        if self.private is not None:
            jobs += [self.private.run(), self._poll_balances()]
        await asyncio.gather(*jobs)

    async def stop(self) -> None:
        await self.public.stop()
        if self.private is not None:
            await self.private.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.rest.close()

    async def _load_pairs(self) -> None:
        """AssetPairs gives the symbol mapping and precisions; retried until Kraken answers."""
        backoff = Backoff(
            self._settings.backoff.initial_seconds, self._settings.backoff.max_seconds
        )
        while True:
            try:
                raw = await self.rest.public("AssetPairs")
                self._map = SymbolMap.from_asset_pairs(msgspec.json.decode(raw))
                break
            except ExchangeError as exc:
                if not exc.retryable:
                    raise
                delay = backoff.next_delay()
                log.warning("kraken.asset_pairs_failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
        for symbol in self._map.symbols:
            if info := self._map.info(symbol):
                self._precision[symbol] = parse.Precision(info.price_precision, info.qty_precision)

    # ---- subscriptions --------------------------------------------------------------------------

    async def _send(self, session: WsSession, method: str, params: dict[str, object]) -> None:
        await session.send(msgspec.json.encode({"method": method, "params": params}).decode())

    async def _subscribe_public(self, symbols: list[str], channels: Sequence[str]) -> None:
        if not symbols:
            return
        wanted = set(channels) & set(self._settings.channels)
        if "ticker" in wanted:
            await self._send(self.public, "subscribe", {"channel": "ticker", "symbol": symbols})
        if "trade" in wanted:
            await self._send(
                self.public, "subscribe", {"channel": "trade", "symbol": symbols, "snapshot": False}
            )
        if "ohlc" in wanted:
            for interval in self._settings.ohlc_intervals:
                await self._send(
                    self.public,
                    "subscribe",
                    {"channel": "ohlc", "symbol": symbols, "interval": interval},
                )
        if "book" in wanted:
            for symbol in symbols:  # staggered: one snapshot at a time
                self._books.await_snapshot(symbol)
                await self._send(
                    self.public,
                    "subscribe",
                    {
                        "channel": "book",
                        "symbol": [symbol],
                        "depth": self._settings.book_depth,
                        "snapshot": True,
                    },
                )
                await asyncio.sleep(SNAPSHOT_STAGGER_SECONDS)

    async def _on_public_connect(self, session: WsSession) -> None:
        self._books.reset()
        if "instrument" in self._settings.channels:
            await self._send(session, "subscribe", {"channel": "instrument"})
        await self._subscribe_public(list(self._wanted), PUBLIC_CHANNELS)
        await self._status.report(ConnectionState.SUBSCRIBED, ", ".join(self._wanted))

    async def _on_private_connect(self, session: WsSession) -> None:
        token = msgspec.json.decode(await self.rest.private("GetWebSocketsToken"))["token"]
        await self._send(
            session, "subscribe", {"channel": "balances", "token": token, "snapshot": True}
        )

    async def subscribe(self, symbol: str, channels: Sequence[str]) -> str | None:
        if symbol not in self._map:
            return f"{symbol} is not a Kraken pair"
        if symbol not in self._wanted:
            self._wanted.append(symbol)
        if self.public.connected.is_set():
            await self._subscribe_public([symbol], channels or PUBLIC_CHANNELS)
        return None

    async def unsubscribe(self, symbol: str, channels: Sequence[str]) -> str | None:
        if symbol not in self._wanted:
            return f"{symbol} is not subscribed"
        chosen = set(channels or PUBLIC_CHANNELS)
        if chosen >= set(PUBLIC_CHANNELS):
            self._wanted.remove(symbol)
        if self.public.connected.is_set():
            for channel in chosen & set(PUBLIC_CHANNELS):
                params: dict[str, object] = {"channel": channel, "symbol": [symbol]}
                if channel == "book":
                    params["depth"] = self._settings.book_depth
                    self._books.drop(symbol)
                if channel == "ohlc":
                    for interval in self._settings.ohlc_intervals:
                        await self._send(
                            self.public, "unsubscribe", {**params, "interval": interval}
                        )
                    continue
                await self._send(self.public, "unsubscribe", params)
        return None

    async def _resync(self, symbol: str, reason: str) -> None:
        """Per-symbol resync: drop the book, ask for a fresh snapshot; never the connection."""
        self._metrics.resyncs.labels(EXCHANGE).inc()
        self._books.await_snapshot(symbol)
        await self._status.report(ConnectionState.RESYNCING, reason, symbol=symbol)
        params = {"channel": "book", "symbol": [symbol], "depth": self._settings.book_depth}
        await self._send(self.public, "unsubscribe", params)
        await self._send(self.public, "subscribe", {**params, "snapshot": True})

    # ---- frames ---------------------------------------------------------------------------------

    def _on_session_event(self, event: SessionEvent) -> None:
        if event.state is ConnectionState.RECONNECTING:
            self._metrics.reconnects.labels(EXCHANGE).inc()
        self._spawn(
            self._status.report(
                event.state, event.detail, attempt=event.attempt, delay_seconds=event.delay_seconds
            )
        )

    async def _on_frame(self, frame: str | bytes, received_ts: int) -> None:
        self._status.last_message_ts = received_ts
        payload = frame.encode() if isinstance(frame, str) else frame
        try:
            msg = m.decode_frame(payload)
        except ParseError as exc:
            self._metrics.parse_errors.labels(EXCHANGE).inc()
            log.warning("frame.unparsed", error=str(exc)[:300])
            await self._publish_raw("unparsed", payload, received_ts)
            return
        channel = str(getattr(msg, "channel", None) or getattr(msg, "method", "other"))
        self._metrics.messages.labels(EXCHANGE, channel).inc()
        await self._publish_raw(channel, payload, received_ts)
        await self._dispatch(msg, received_ts)

    async def _publish_raw(self, channel: str, payload: bytes, received_ts: int) -> None:
        record = RawFrame(
            exchange=EXCHANGE,
            channel=channel,
            connection_id="kraken-v2",
            payload=payload,
            received_ts=received_ts,
        )
        await self._publish(topics.RAW, f"{EXCHANGE}:{channel}", record, received_ts)

    async def _dispatch(self, msg: m.KrakenFrame, received_ts: int) -> None:
        match msg:
            case m.KrakenBookMsg():
                await self._on_book(msg, received_ts)
            case m.KrakenTradeMsg():
                await self._on_trades(msg, received_ts)
            case m.KrakenTickerMsg():
                for ticker in parse.parse_ticker(msg, received_ts, self._precision_of):
                    await self._publish(
                        topics.TICKER, f"{EXCHANGE}:{ticker.symbol}", ticker, ticker.exchange_ts
                    )
            case m.KrakenOhlcMsg():
                for candle in parse.parse_ohlc(msg, received_ts, self._precision_of):
                    await self._publish_candle(candle)
            case m.KrakenInstrumentMsg():
                self._precision.update(parse.parse_instrument(msg))
            case m.KrakenBalancesMsg():
                for balance in parse.parse_balances(msg, received_ts):
                    await self._publish_balance(balance)
            case m.KrakenAckMsg() if not msg.success:
                await self._on_rejected(msg)
            case _:
                pass  # status, heartbeat, pong and successful acks carry nothing to publish

    def _precision_of(self, symbol: str) -> parse.Precision:
        return self._precision.get(symbol) or parse.Precision(8, 8)

    async def _on_rejected(self, ack: m.KrakenAckMsg) -> None:
        log.error("kraken.request_rejected", method=ack.method, error=ack.error, symbol=ack.symbol)
        await self._status.report(
            self._status.state, f"{ack.method} rejected: {ack.error}", symbol=ack.symbol
        )

    async def _on_trades(self, msg: m.KrakenTradeMsg, received_ts: int) -> None:
        for trade in parse.parse_trades(msg, received_ts, self._precision_of):
            trade_id = int(trade.trade_id)
            last = self._last_trade_id.get(trade.symbol)
            if last is not None and trade_id > last + 1:
                self._metrics.gaps.labels(EXCHANGE, "trade").inc()
                log.warning(
                    "trade.gap_detected",
                    symbol=trade.symbol,
                    after=last,
                    next=trade_id,
                    missing=trade_id - last - 1,
                )
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
            symbol, precision = item.symbol, self._precision_of(item.symbol)
            bids, asks = parse.book_levels(item.bids), parse.book_levels(item.asks)
            try:
                if not self._books.apply(
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
            exchange_ts = parse.rfc3339_micros(item.timestamp) if item.timestamp else received_ts
            update = parse.book_update(
                symbol,
                snapshot,
                bids,
                asks,
                item.checksum,
                self._settings.book_depth,
                exchange_ts,
                received_ts,
                precision,
            )
            await self._publish(topics.BOOK, f"{EXCHANGE}:{symbol}", update, exchange_ts)

    async def _publish_candle(self, candle: OHLCV) -> None:
        key = f"{EXCHANGE}:{candle.symbol}"  # by symbol: co-partitioned with its trades
        await self._publish(topics.OHLC, key, candle, candle.exchange_ts)

    async def _publish_balance(self, balance: Balance) -> None:
        await self._publish(
            topics.BALANCES, f"{EXCHANGE}:{balance.asset}", balance, balance.exchange_ts
        )

    # ---- REST -----------------------------------------------------------------------------------

    async def history(self, symbol: str, interval_minutes: int) -> list[OHLCV]:
        return await snapshots.ohlc_history(
            self.rest, symbol, interval_minutes, self._precision_of(symbol)
        )

    async def depth(self, symbol: str, count: int = 100) -> BookUpdate:
        return await snapshots.depth_snapshot(self.rest, symbol, count, self._precision_of(symbol))

    async def recent_trades(self, symbol: str, since: str | None = None) -> tuple[list[Trade], str]:
        return await snapshots.recent_trades(self.rest, symbol, since, self._precision_of(symbol))

    async def _backfill_all(self) -> None:
        """Cache warming: recent candles for every symbol and interval, once at start-up."""
        for symbol in list(self._wanted):
            for interval in self._settings.ohlc_intervals:
                try:
                    candles = await self.history(symbol, interval)
                except (ExchangeError, ParseError) as exc:
                    log.warning(
                        "kraken.backfill_failed", symbol=symbol, interval=interval, error=str(exc)
                    )
                    continue
                for candle in candles:
                    await self._publish_candle(candle)
                log.info(
                    "kraken.backfilled", symbol=symbol, interval=interval, candles=len(candles)
                )

    async def balances(self) -> list[Balance]:
        return await snapshots.balances(self.rest)

    async def _poll_balances(self) -> None:
        """REST Balance while the private stream is down (and once at start)."""
        first = True
        while True:
            private_up = self.private is not None and self.private.connected.is_set()
            if first or not private_up:
                try:
                    for balance in await self.balances():
                        await self._publish_balance(balance)
                except (ExchangeError, ParseError) as exc:
                    log.warning("kraken.balance_poll_failed", error=str(exc))
            first = False
            await asyncio.sleep(self._settings.rest_poll_balance_seconds)


def kraken_adapter_factory(settings: ExchangeSettings) -> AdapterFactory:
    def make(
        publisher: Publisher, status: StatusReporter, metrics: ProducerMetrics
    ) -> KrakenAdapter:
        return KrakenAdapter(settings, publisher, status, metrics)

    return make
