"""Kraken WebSocket v2: the public and private sessions and every request sent on them.

On each (re)connect the public session subscribes the wanted symbols from scratch (instrument,
ticker, trade, ohlc per interval, and books one symbol at a time so snapshots do not arrive as
one burst); the private session gets a fresh token and subscribes balances. A resync touches one
symbol's book only (unsubscribe + subscribe for a fresh snapshot), never the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import msgspec
from websockets.exceptions import ConnectionClosed

from marketdata.config import ExchangeSettings
from marketdata.logs import get_logger
from producers.core.backoff import Backoff
from producers.core.session import OnFrame, SessionEvent, WsSession
from producers.errors import ConnectionLost
from producers.exchanges.kraken.books import KrakenBooks
from producers.exchanges.kraken.rest import KrakenRest
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import ConnectionState

log = get_logger("producers.kraken")
EXCHANGE = "kraken"
PUBLIC_CHANNELS = ("ticker", "trade", "book", "ohlc")
SNAPSHOT_STAGGER_SECONDS = 0.05  # books one at a time, so snapshots don't arrive as one burst

Spawn = Callable[[Coroutine[Any, Any, None]], None]


def request(method: str, params: dict[str, object]) -> str:
    return msgspec.json.encode({"method": method, "params": params}).decode()


class KrakenWs:
    def __init__(
        self,
        settings: ExchangeSettings,
        *,
        wanted: list[str],
        books: KrakenBooks,
        rest: KrakenRest,
        on_frame: OnFrame,
        status: StatusReporter,
        metrics: ProducerMetrics,
        spawn: Spawn,
    ) -> None:
        self._settings = settings
        self._wanted = wanted  # shared with the adapter: the desired state, in order
        self._books = books
        self._rest = rest
        self._on_frame = on_frame
        self._status = status
        self._metrics = metrics
        self._spawn = spawn
        ws_url, ws_auth_url, _rest_url = settings.urls(EXCHANGE)
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

    def _on_session_event(self, event: SessionEvent) -> None:
        if event.state is ConnectionState.RECONNECTING:
            self._metrics.reconnects.labels(EXCHANGE).inc()
        self._spawn(
            self._status.report(
                event.state, event.detail, attempt=event.attempt, delay_seconds=event.delay_seconds
            )
        )

    async def stop(self) -> None:
        await self.public.stop()
        if self.private is not None:
            await self.private.stop()

    # ---- on connect -----------------------------------------------------------------------------

    async def _send(self, session: WsSession, method: str, params: dict[str, object]) -> None:
        await session.send(request(method, params))

    async def _on_public_connect(self, session: WsSession) -> None:
        self._books.reset()
        if "instrument" in self._settings.channels:
            await self._send(session, "subscribe", {"channel": "instrument"})
        await self.subscribe_public(list(self._wanted), PUBLIC_CHANNELS)
        await self._status.report(ConnectionState.SUBSCRIBED, ", ".join(self._wanted))

    async def _on_private_connect(self, session: WsSession) -> None:
        token = msgspec.json.decode(await self._rest.private("GetWebSocketsToken"))["token"]
        await self._send(
            session, "subscribe", {"channel": "balances", "token": token, "snapshot": True}
        )

    # ---- subscriptions --------------------------------------------------------------------------

    async def subscribe_public(self, symbols: list[str], channels: Sequence[str]) -> None:
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

    async def unsubscribe_public(self, symbol: str, channels: set[str]) -> None:
        for channel in channels & set(PUBLIC_CHANNELS):
            params: dict[str, object] = {"channel": channel, "symbol": [symbol]}
            if channel == "book":
                params["depth"] = self._settings.book_depth
                self._books.drop(symbol)
            if channel == "ohlc":
                for interval in self._settings.ohlc_intervals:
                    await self._send(self.public, "unsubscribe", {**params, "interval": interval})
                continue
            await self._send(self.public, "unsubscribe", params)

    async def resync_soon(self, symbol: str, reason: str) -> None:
        """A resync asked from outside the frame loop: while the public stream is down (or goes
        down under the request) the book just waits, since the reconnect snapshots every book."""
        if not self.public.connected.is_set():
            self._books.await_snapshot(symbol)
            return
        try:
            await self.resync(symbol, reason)
        except (ConnectionLost, ConnectionClosed) as exc:
            log.warning("book.resync_deferred", symbol=symbol, reason=repr(exc))
            self._books.await_snapshot(symbol)

    async def resync(self, symbol: str, reason: str) -> None:
        """Per-symbol resync: drop the book, ask for a fresh snapshot; never the connection."""
        self._metrics.resyncs.labels(EXCHANGE).inc()
        self._books.await_snapshot(symbol)
        await self._status.report(ConnectionState.RESYNCING, reason, symbol=symbol)
        params = {"channel": "book", "symbol": [symbol], "depth": self._settings.book_depth}
        await self._send(self.public, "unsubscribe", params)
        await self._send(self.public, "subscribe", {**params, "snapshot": True})
