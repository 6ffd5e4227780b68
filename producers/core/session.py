"""A WebSocket connection that stays up: connect, subscribe, watch, reconnect with back-off.

The venue adapter supplies what to do on connect (subscribe everything it wants, so a reconnect
resubscribes by construction) and on each frame. The session owns the rest: a connect timeout, a
watchdog that recycles a socket that goes silent (any frame, heartbeats included, counts as life),
capped exponential back-off with full jitter between attempts (reset once a connection has proved
healthy), and a status callback for every state change so the producer can publish it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from marketdata.logs import get_logger
from producers.core.backoff import Backoff
from producers.errors import ConnectionLost, MarketDataError
from schemas.models import ConnectionState

log = get_logger("producers.session")

MAX_FRAME_BYTES = 16 * 1024 * 1024  # a several-MB frame is read (and then judged by the parser)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    state: ConnectionState
    detail: str = ""
    attempt: int | None = None
    delay_seconds: float | None = None


OnConnect = Callable[["WsSession"], Awaitable[None]]
OnFrame = Callable[[str | bytes, int], Awaitable[None]]
OnEvent = Callable[[SessionEvent], None]


class WsSession:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        on_connect: OnConnect,
        on_frame: OnFrame,
        on_event: OnEvent,
        backoff: Backoff,
        connect_timeout: float = 10.0,
        silence_timeout: float = 10.0,
        healthy_after: float = 5.0,
        compression: bool = False,
    ) -> None:
        self.url = url
        self._compression: Literal["deflate"] | None = "deflate" if compression else None
        self.name = name
        self._on_connect = on_connect
        self._on_frame = on_frame
        self._on_event = on_event
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._silence_timeout = silence_timeout
        self._healthy_after = healthy_after
        self._ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self.reconnects = 0
        self.last_frame_at: float | None = None  # time.monotonic() of the last frame
        self.connected = asyncio.Event()

    async def send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionLost(f"{self.name}: not connected")
        await ws.send(text)

    def recycle(self, reason: str) -> None:
        """Drop the current socket (e.g. it went silent); the run loop reconnects."""
        if self._ws is not None:
            log.warning("ws.recycled", session=self.name, reason=reason)
            asyncio.get_running_loop().create_task(self._ws.close(code=1001, reason=reason[:100]))

    async def stop(self) -> None:
        self._stop.set()
        if self._ws is not None:
            await self._ws.close()

    async def run(self) -> None:
        """Connect and read until stop(); every failure is retried after a back-off delay."""
        first = True
        while not self._stop.is_set():
            if not first:
                self.reconnects += 1
                delay = self._backoff.next_delay()
                self._on_event(
                    SessionEvent(
                        ConnectionState.RECONNECTING,
                        "reconnecting",
                        attempt=self._backoff.attempt,
                        delay_seconds=round(delay, 3),
                    )
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)  # sleep, unless stopped
                if self._stop.is_set():
                    break
            first = False
            self._on_event(SessionEvent(ConnectionState.CONNECTING, self.url))
            try:
                await self._connect_and_read()
            except (
                OSError,
                TimeoutError,
                InvalidHandshake,
                ConnectionClosed,
                InvalidURI,
                asyncio.IncompleteReadError,
            ) as exc:
                self._disconnected(exc)
            except MarketDataError as exc:
                # The error says whether retrying can help (a connection lost, a rate-limited
                # token request in `on_connect`); anything fatal ends the run, loudly.
                if not exc.retryable:
                    raise
                self._disconnected(exc)
            finally:
                self._ws = None
                self.connected.clear()
        self._on_event(SessionEvent(ConnectionState.STOPPED, "stopped"))

    def _disconnected(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:300]
        log.warning("ws.disconnected", session=self.name, reason=reason)
        self._on_event(SessionEvent(ConnectionState.DISCONNECTED, reason))

    async def _connect_and_read(self) -> None:
        ws = await websockets.connect(
            self.url,
            open_timeout=self._connect_timeout,
            max_size=MAX_FRAME_BYTES,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            compression=self._compression,
        )
        self._ws = ws
        connected_at = time.monotonic()
        self.last_frame_at = connected_at
        self._on_event(SessionEvent(ConnectionState.CONNECTED, self.url))
        log.info("ws.connected", session=self.name, url=self.url, reconnects=self.reconnects)
        try:
            await self._on_connect(self)
            self.connected.set()
            healthy = False
            while True:
                try:
                    async with asyncio.timeout(self._silence_timeout):
                        frame = await ws.recv()
                except TimeoutError:
                    raise ConnectionLost(
                        f"silent for {self._silence_timeout:.1f}s (no data, no heartbeat)"
                    ) from None
                now = time.monotonic()
                self.last_frame_at = now
                await self._on_frame(frame, time.time_ns() // 1000)
                if not healthy and now - connected_at >= self._healthy_after:
                    healthy = True
                    self._backoff.reset()
        finally:
            await ws.close()
