"""Kraken WebSocket v2: the public and private sessions and every request sent on them.

On each (re)connect the public session subscribes the wanted symbols from scratch (instrument,
ticker, trade, ohlc per interval, and books one symbol at a time so snapshots do not arrive as
one burst); the private session gets a fresh token and subscribes balances. A resync touches one
symbol's book only (unsubscribe + subscribe for a fresh snapshot), never the connection; so does
a snapshot that has not come in time after it was asked for (it was lost: asked again, with a
growing deadline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Protocol

import msgspec
from websockets.exceptions import ConnectionClosed

from marketdata.config import ExchangeSettings
from marketdata.logs import get_logger
from producers.core.backoff import Backoff
from producers.core.session import OnEvent, SessionEvent, WsSession
from producers.errors import ConnectionLost
from producers.exchanges.kraken.books import KrakenBooks
from producers.exchanges.kraken.rest import KrakenRest
from producers.exchanges.kraken.stream import PRIVATE, PUBLIC
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import ConnectionState

log = get_logger("producers.kraken")


class OnConnectionFrame(Protocol):
    """A frame as received, with the connection it came on (`public` or `private`)."""

    def __call__(
        self, frame: str | bytes, received_ts: int, connection: str = ...
    ) -> Awaitable[None]: ...


EXCHANGE = "kraken"
PUBLIC_CHANNELS = ("ticker", "trade", "book", "ohlc")
SNAPSHOT_STAGGER_SECONDS = 0.05  # books one at a time, so snapshots don't arrive as one burst
SNAPSHOT_DEADLINE_OF_SILENCE = 1 / 3
"""A book snapshot is due this share of `heartbeatTimeoutSeconds` after it was asked for: Kraken
sends it right after the ack, so a live connection that has not delivered it by then lost it."""

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
        on_frame: OnConnectionFrame,
        status: StatusReporter,
        metrics: ProducerMetrics,
        spawn: Spawn,
        on_public_disconnect: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self._settings = settings
        self._on_public_disconnect = on_public_disconnect  # release what waits on the stream
        self._wanted = wanted  # shared with the adapter: the desired state, in order
        self._books = books
        self._rest = rest
        self._on_frame = on_frame
        self._status = status
        self._metrics = metrics
        self._spawn = spawn
        deadline = settings.heartbeat_timeout_seconds * SNAPSHOT_DEADLINE_OF_SILENCE
        backoff = settings.backoff
        self._snapshot_deadlines = Backoff(
            deadline, max(deadline, backoff.max_seconds), backoff.multiplier
        )
        self._resyncing: set[str] = set()  # resynced books not yet reported live again
        ws_url, ws_auth_url, _rest_url = settings.urls(EXCHANGE)
        self.public = self._session(
            ws_url,
            "kraken-public",
            PUBLIC,
            self._on_public_connect,
            settings.heartbeat_timeout_seconds,
            self._on_public_event,
        )
        self.private: WsSession | None = None
        if settings.private_enabled:
            # Private streams are quiet between ledger entries: only heartbeats keep them alive.
            self.private = self._session(
                ws_auth_url,
                "kraken-private",
                PRIVATE,
                self._on_private_connect,
                max(30.0, settings.heartbeat_timeout_seconds),
                self._on_session_event,
            )
        else:
            log.warning("kraken.private_disabled", reason="no API key and secret configured")

    def _session(
        self,
        url: str,
        name: str,
        connection: str,
        on_connect: Callable[[WsSession], Awaitable[None]],
        silence_timeout: float,
        on_event: OnEvent,
    ) -> WsSession:
        backoff = self._settings.backoff
        return WsSession(
            url,
            name=name,
            on_connect=on_connect,
            on_frame=partial(self._on_frame, connection=connection),
            on_event=on_event,
            backoff=Backoff(backoff.initial_seconds, backoff.max_seconds, backoff.multiplier),
            connect_timeout=self._settings.connect_timeout_seconds,
            silence_timeout=silence_timeout,
            compression=self._settings.ws_compression,
        )

    def _on_public_event(self, event: SessionEvent) -> None:
        if event.state is ConnectionState.DISCONNECTED:
            self._spawn(self._on_public_disconnect())
        self._on_session_event(event)

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
            for interval in self._settings.live_ohlc_intervals:
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
                for interval in self._settings.live_ohlc_intervals:
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
        self._resyncing.add(symbol)
        await self._status.report(ConnectionState.RESYNCING, reason, symbol=symbol)
        params = {"channel": "book", "symbol": [symbol], "depth": self._settings.book_depth}
        await self._send(self.public, "unsubscribe", params)
        await self._send(self.public, "subscribe", {**params, "snapshot": True})

    # ---- snapshot deadline ----------------------------------------------------------------------

    def snapshot_deadline(self, misses: int) -> float:
        """Seconds a book may await its snapshot after `misses` deadlines missed in a row: the
        first deadline, then growing like the reconnect back-off up to its cap (no jitter: a
        deadline, not a herd), so a snapshot that keeps getting lost is not asked for in a storm."""
        return self._snapshot_deadlines.ceiling(misses)

    async def check_snapshots(self) -> None:
        """Ask again (a resync, reported and counted) for every book whose snapshot is overdue,
        one at a time like the subscriptions, while the public stream is up: a reconnect asks
        for every snapshot anyway. A resynced book that is live again is reported so, in the
        connection's state, so the latest status does not say `resyncing` until the next
        heartbeat."""
        if not self.public.connected.is_set():
            return
        for symbol in sorted(self._resyncing):
            if symbol not in self._wanted:
                self._resyncing.discard(symbol)
            elif self._books.book(symbol) is not None:  # a snapshot came: live again
                self._resyncing.discard(symbol)
                await self._status.report(self._status.state, "book resynced", symbol=symbol)
        for symbol, waited in self._books.overdue(self.snapshot_deadline):
            if symbol not in self._wanted or not self.public.connected.is_set():
                continue  # unsubscribed meanwhile, or the reconnect asks for it
            log.warning("book.snapshot_overdue", symbol=symbol, waited=round(waited, 3))
            await self.resync_soon(symbol, f"no snapshot {waited:.1f}s after asking for it")
            await asyncio.sleep(SNAPSHOT_STAGGER_SECONDS)

    async def watch_snapshots(self) -> None:
        """As long as the adapter runs: a lost snapshot (the connection stalled right after the
        subscription, a rejected request) must not leave a book awaiting it forever."""
        interval = self.snapshot_deadline(0) / 4
        while True:
            await asyncio.sleep(interval)
            await self.check_snapshots()
