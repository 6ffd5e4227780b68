"""The Kraken adapter: WebSocket v2 streams and REST, turned into unified models on Kafka.

Public stream: instrument (precisions), ticker, trade, book (checksum verified after every
message, truncated to the subscribed depth) and ohlc. A checksum mismatch resyncs that symbol
alone (unsubscribe + subscribe for a fresh snapshot) and nothing from the corrupt book is
published; a snapshot that does not come in time is asked for again the same way. Private
stream: balances, with a fresh token per connection; REST Balance polling stands in while the
private stream is down. REST also backfills OHLC history at start-up.

Forming candles from the stream are conflated (`ohlcConflateMs`); the adapter owns the timer that
releases those held back and drains them when the public stream drops and on stop().

This file composes the parts, each in its own file by what it touches: `ws.py` (the sessions and
every request sent on them), `stream.py` (what each frame becomes on Kafka), `rest.py` and
`snapshots.py` (REST I/O and its answers as models), `symbols.py` (Kraken's spellings).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, Final

import msgspec

from marketdata.config import ExchangeSettings
from marketdata.logs import get_logger
from producers.core.backoff import Backoff
from producers.core.circuit import CircuitBreaker
from producers.core.ratelimit import ClientLimiter, KrakenCallCounter
from producers.core.session import WsSession
from producers.errors import ExchangeError, ParseError
from producers.exchanges.kraken import parse, snapshots
from producers.exchanges.kraken.rest import KrakenRest
from producers.exchanges.kraken.stream import KrakenStream
from producers.exchanges.kraken.symbols import SymbolMap
from producers.exchanges.kraken.ws import PUBLIC_CHANNELS, KrakenWs
from producers.publish import Publisher
from producers.runner import AdapterFactory
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import OHLCV, Balance, BookUpdate, ConnectionState, Trade

log = get_logger("producers.kraken")
EXCHANGE = "kraken"
RELEASE_MIN_SECONDS: Final = 0.05
STOP_DRAIN_SECONDS: Final = 2.0
"""How long stop() waits for room in the publisher's backlog for the candles held back."""


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
        self._status = status
        _ws_url, _ws_auth_url, rest_url = settings.urls(EXCHANGE)
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
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.stream = KrakenStream(
            settings.book_depth,
            publisher,
            status,
            metrics,
            resync=self._resync,
            ohlc_conflate_seconds=settings.ohlc_conflate_ms / 1000,
            raw_batch_seconds=settings.raw_batch_ms / 1000,
            book_snapshot_us=settings.book_snapshot_ms * 1000,
        )
        self.ws = KrakenWs(
            settings,
            wanted=self._wanted,
            books=self.stream.books,
            rest=self.rest,
            on_frame=self.stream.on_frame,
            status=status,
            metrics=metrics,
            spawn=self._spawn,
            on_public_disconnect=self.stream.drain,
        )
        self.public: WsSession = self.ws.public
        self.private: WsSession | None = self.ws.private

    @property
    def symbols(self) -> Sequence[str]:
        return tuple(self._wanted)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        await self._load_pairs()
        unknown = [s for s in self._wanted if s not in self._map]
        for symbol in unknown:
            self._wanted.remove(symbol)
            await self._status.report(
                ConnectionState.CONNECTING, f"rejected {symbol}: unknown to Kraken", symbol=symbol
            )
        jobs = [self.public.run(), self.ws.watch_snapshots(), self._backfill_all()]
        if self._settings.ohlc_conflate_ms or self._settings.raw_batch_ms:
            jobs.append(self._release_held())
        if self.private is not None:
            jobs += [self.private.run(), self._poll_balances()]
        try:  # a job that fails ends the others too (most loop until cancelled)
            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(job)
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None

    async def stop(self) -> None:
        self._stopping.set()
        await self.ws.stop()
        try:
            await self._drain_held()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await self.rest.close()

    async def _release_held(self) -> None:
        """Forming candles held back by conflation and raw batches go out once their interval
        has passed: checked every half of the shorter interval, so none waits much longer. Ends
        with stop(), which drains the rest."""
        held = [ms for ms in (self._settings.ohlc_conflate_ms, self._settings.raw_batch_ms) if ms]
        period = max(min(held) / 2000, RELEASE_MIN_SECONDS)
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), period)
            except TimeoutError:
                await self.stream.publish_due()

    async def _drain_held(self) -> None:
        """Everything held back, before the publisher closes. Bounded: with Kafka away and the
        backlog full of facts, waiting for room would hold up the whole shutdown."""
        try:
            async with asyncio.timeout(STOP_DRAIN_SECONDS):
                await self.stream.drain()
        except TimeoutError:
            log.error("kraken.candles_undrained", waited_seconds=STOP_DRAIN_SECONDS)

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
                self.stream.precision[symbol] = parse.Precision(
                    info.price_precision, info.qty_precision
                )

    # ---- subscriptions --------------------------------------------------------------------------

    async def subscribe(self, symbol: str, channels: Sequence[str]) -> str | None:
        if symbol not in self._map:
            return f"{symbol} is not a Kraken pair"
        if symbol not in self._wanted:
            self._wanted.append(symbol)
        if self.public.connected.is_set():
            await self.ws.subscribe_public([symbol], channels or PUBLIC_CHANNELS)
        return None

    async def unsubscribe(self, symbol: str, channels: Sequence[str]) -> str | None:
        if symbol not in self._wanted:
            return f"{symbol} is not subscribed"
        chosen = set(channels or PUBLIC_CHANNELS)
        if chosen >= set(PUBLIC_CHANNELS):
            self._wanted.remove(symbol)
        if self.public.connected.is_set():
            await self.ws.unsubscribe_public(symbol, chosen)
        return None

    async def _resync(self, symbol: str, reason: str) -> None:
        await self.ws.resync(symbol, reason)

    async def resync_book(self, symbol: str, reason: str) -> None:
        """A fresh snapshot of one book on request (the publisher shed its updates)."""
        if symbol in self._wanted:
            await self.ws.resync_soon(symbol, reason)

    # ---- REST -----------------------------------------------------------------------------------

    async def history(self, symbol: str, interval_minutes: int) -> list[OHLCV]:
        return await snapshots.ohlc_history(
            self.rest, symbol, interval_minutes, self.stream.precision_of(symbol)
        )

    async def depth(self, symbol: str, count: int = 100) -> BookUpdate:
        precision = self.stream.precision_of(symbol)
        return await snapshots.depth_snapshot(self.rest, symbol, count, precision)

    async def recent_trades(self, symbol: str, since: str | None = None) -> tuple[list[Trade], str]:
        precision = self.stream.precision_of(symbol)
        return await snapshots.recent_trades(self.rest, symbol, since, precision)

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
                    await self.stream.publish_candle(candle)
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
                        await self.stream.publish_balance(balance)
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
