"""`MarketDataStream`: the `/ws` relay as an async iterator of typed updates, with reconnect.

    topics = [Topic("prices", ("BTC/USD",)), Topic("balances")]
    async with MarketDataStream("http://127.0.0.1:5001", topics) as stream:
        async for event in stream:
            if isinstance(event, MarketUpdate):
                ...  # event.data is a schemas.models record (PriceTicker, Balance, ...)
            elif isinstance(event, ConnectionChanged):
                ...  # event.connected: False while the stream is down

- A background task holds the connection. When it drops (server restart, network, a missed
  ping) the stream says so (`connected` false, a `ConnectionChanged` event, `disconnected`
  event set), waits a capped exponential delay with jitter and reconnects, then subscribes to
  every topic again; the server answers each subscription with a snapshot, so `last_value`
  is current again right after a reconnect. Values seen before the drop stay readable meanwhile.
- `last_value(channel, symbol)` is the newest value received per key, whether or not anybody
  iterates. Events wait in a bounded queue; when it is full the oldest event is dropped (and
  counted in `dropped`), so a consumer that stops reading cannot grow memory.
- A rejected handshake (401/403: an API key is needed) is not retried: iterating raises
  `Unauthorized`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal, Self

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from clients.errors import Unauthorized
from schemas.models import (
    OHLCV,
    Alert,
    Balance,
    ConnectionStatus,
    IndicatorSet,
    OrderBook,
    Position,
    PriceTicker,
    Record,
    Trade,
)

Channel = Literal[
    "prices", "book", "trades", "candles", "indicators", "balances", "positions", "status", "alerts"
]
RECORDS: Final[dict[str, type[Record]]] = {
    "prices": PriceTicker,
    "book": OrderBook,
    "trades": Trade,
    "candles": OHLCV,
    "indicators": IndicatorSet,
    "balances": Balance,
    "positions": Position,
    "status": ConnectionStatus,
    "alerts": Alert,
}
"""The record type of each channel's `data`."""
SYMBOL_CHANNELS: Final = frozenset({"prices", "book", "trades", "candles", "indicators"})
TIMEFRAME_CHANNELS: Final = frozenset({"candles", "indicators"})
ALL: Final = "*"


@dataclass(frozen=True, slots=True)
class Topic:
    """What to receive: a channel, its symbols (`*`: all), and a timeframe for candles and
    indicators."""

    channel: Channel
    symbols: tuple[str, ...] = (ALL,)
    timeframe: str | None = None
    exchange: str = "kraken"

    def __post_init__(self) -> None:
        if self.channel not in RECORDS:
            raise ValueError(f"unknown channel {self.channel!r}; one of {', '.join(RECORDS)}")
        if self.channel in TIMEFRAME_CHANNELS and self.timeframe is None:
            raise ValueError(f"channel {self.channel} needs a timeframe (1m, 5m, 15m, 1h, ...)")

    def message(self, op: Literal["subscribe", "unsubscribe"]) -> str:
        """The `/ws` message (a text frame)."""
        return msgspec.json.encode(
            {
                "op": op,
                "channel": self.channel,
                "symbols": list(self.symbols),
                "exchange": self.exchange,
                **({"timeframe": self.timeframe} if self.timeframe else {}),
            }
        ).decode()


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """A value of a channel: `snapshot` is the current value sent right after (re)subscribing."""

    channel: str
    key: str
    data: Record
    snapshot: bool
    received_at: float
    """Wall-clock seconds when this client read it."""


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The stream went up or down. `attempt` counts failed connects since the last success."""

    connected: bool
    reason: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ServerNotice:
    """An `error` message from the server (a subscription it refused, and why)."""

    message: str
    channel: str | None


StreamEvent = MarketUpdate | ConnectionChanged | ServerNotice


class _Envelope(msgspec.Struct, frozen=True):
    type: str
    channel: str | None = None
    key: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    message: str | None = None


class _Closed:
    """Queued once by `close()`: ends iteration."""


def reconnect_delay(
    attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Capped exponential backoff with equal jitter: in [d/2, d], d = min(cap, base * 2^(n-1))."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng() * ceiling / 2


def ws_url(base_url: str) -> str:
    """`http://host:port` (or `ws://...`, with or without `/ws`) as the relay's address."""
    url = base_url.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(plain):
            url = secure + url.removeprefix(plain)
    return url if url.endswith("/ws") else f"{url}/ws"


def normalize_symbol(symbol: str) -> str:
    """`btc-usd`, `BTC_USD` -> `BTC/USD` (a symbol without a separator is left as written)."""
    return symbol.strip().upper().replace("-", "/").replace("_", "/")


def record_age(record: Record, now: float | None = None) -> float | None:
    """Seconds since our producer received `record` (None for records without `received_ts`)."""
    received: object = getattr(record, "received_ts", None)
    if not isinstance(received, int):
        return None
    return max(0.0, (time.time() if now is None else now) - received / 1e6)


class MarketDataStream:
    """Typed updates from `/ws` for chosen topics, reconnecting until `close()`."""

    def __init__(
        self,
        base_url: str,
        topics: Iterable[Topic] = (),
        *,
        api_key: str | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        open_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
        max_queue: int = 10_000,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.url = ws_url(base_url)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.connected_event = asyncio.Event()
        self.disconnected_event = asyncio.Event()
        self.disconnected_event.set()
        self.reconnects = 0
        """Successful connections after the first."""
        self.dropped = 0
        """Events dropped because the queue was full."""
        self.last_error: str | None = None
        self._topics: dict[Topic, None] = dict.fromkeys(topics)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._rng = rng
        self._events: asyncio.Queue[StreamEvent | _Closed] = asyncio.Queue(max_queue)
        self._values: dict[tuple[str, str], Record] = {}
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._fatal: Unauthorized | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Start connecting in the background (idempotent)."""
        if self._task is None and not self._closing:
            self._task = asyncio.create_task(self._run(), name=f"marketdata-stream {self.url}")

    async def close(self) -> None:
        """Close the connection, stop reconnecting and end iteration."""
        if self._closing:
            return
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set_state(False, "closed by the client", 0)
        self._push(_Closed())

    @property
    def connected(self) -> bool:
        return self.connected_event.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self.connected_event.wait()

    async def wait_disconnected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self.disconnected_event.wait()

    # -- subscriptions ---------------------------------------------------------------------

    @property
    def topics(self) -> tuple[Topic, ...]:
        return tuple(self._topics)

    async def subscribe(self, topic: Topic) -> None:
        """Add a topic: sent now if connected, and again after every reconnect."""
        self._topics[topic] = None
        await self._send(topic.message("subscribe"))

    async def unsubscribe(self, topic: Topic) -> None:
        self._topics.pop(topic, None)
        await self._send(topic.message("unsubscribe"))

    # -- values ----------------------------------------------------------------------------

    def last_value(
        self,
        channel: Channel,
        symbol: str | None = None,
        *,
        timeframe: str | None = None,
        exchange: str = "kraken",
    ) -> Record | None:
        """The newest value received for a symbol (an asset for balances and positions, nothing
        for status, the `source:kind` key for alerts), or None if none has arrived yet."""
        return self._values.get((channel, _key(channel, symbol, timeframe, exchange)))

    def values(self, channel: Channel) -> dict[str, Record]:
        """Every key's newest value on a channel."""
        return {key: v for (ch, key), v in self._values.items() if ch == channel}

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self._events.get()
        if isinstance(event, _Closed):
            self._events.put_nowait(event)  # later calls end too
            if self._fatal is not None:
                raise self._fatal
            raise StopAsyncIteration
        return event

    # -- connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        connected_before = False
        while not self._closing:
            reason = await self._session(failures, connected_before)
            if self.connected:
                connected_before, failures = True, 0
            if self._closing or self._fatal is not None:
                break
            self.last_error = reason
            failures += 1
            self._set_state(False, reason, failures)
            await asyncio.sleep(
                reconnect_delay(failures, self.backoff, self.max_backoff, self._rng)
            )
        if self._fatal is not None:
            self._push(_Closed())

    async def _session(self, failures: int, connected_before: bool) -> str:
        """One connection, from handshake to drop; returns why it ended."""
        try:
            async with connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_interval,
                close_timeout=2.0,
                max_queue=256,
            ) as ws:
                self._ws = ws
                for topic in list(self._topics):
                    await ws.send(topic.message("subscribe"))
                if connected_before:
                    self.reconnects += 1
                self._set_state(True, "connected", failures)
                async for frame in ws:
                    self._handle(frame)
                return _closed_reason(ws)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                self._fatal = Unauthorized(
                    f"the stream needs an API key: HTTP {status}", url=self.url
                )
            return str(exc)
        except ConnectionClosed as exc:
            return f"connection closed: {exc}"
        except (OSError, TimeoutError, WebSocketException) as exc:
            return f"cannot connect: {exc!r}"
        finally:
            self._ws = None

    async def _send(self, message: str) -> None:
        ws = self._ws
        if ws is None:
            return  # sent on (re)connect
        with contextlib.suppress(ConnectionClosed):
            await ws.send(message)

    def _handle(self, frame: str | bytes) -> None:
        try:
            envelope = msgspec.json.decode(frame, type=_Envelope)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._push(ServerNotice(f"unreadable frame: {exc}", None))
            return
        if envelope.type == "error":
            self._push(ServerNotice(envelope.message or "", envelope.channel))
            return
        if envelope.type not in ("snapshot", "update") or envelope.channel not in RECORDS:
            return  # connection, subscribed, unsubscribed, pong
        try:
            record = msgspec.json.decode(envelope.data, type=RECORDS[envelope.channel])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._push(ServerNotice(f"unreadable {envelope.channel} data: {exc}", envelope.channel))
            return
        key = envelope.key or ""
        self._values[(envelope.channel, key)] = record
        snapshot = envelope.type == "snapshot"
        self._push(MarketUpdate(envelope.channel, key, record, snapshot, time.time()))

    def _set_state(self, connected: bool, reason: str, attempt: int) -> None:
        if connected == self.connected:
            return
        (self.connected_event if connected else self.disconnected_event).set()
        (self.disconnected_event if connected else self.connected_event).clear()
        self._push(ConnectionChanged(connected, reason, attempt))

    def _push(self, event: StreamEvent | _Closed) -> None:
        if self._events.full():
            self._events.get_nowait()
            self.dropped += 1
        self._events.put_nowait(event)


def _key(channel: str, symbol: str | None, timeframe: str | None, exchange: str) -> str:
    if channel == "status":
        return symbol or exchange
    if symbol is None:
        return exchange
    if ":" in symbol or channel == "alerts":
        return symbol
    if channel in ("balances", "positions"):
        return f"{exchange}:{symbol.strip().upper()}"
    key = f"{exchange}:{normalize_symbol(symbol)}"
    return f"{key}:{timeframe}" if channel in TIMEFRAME_CHANNELS and timeframe else key


def _closed_reason(ws: ClientConnection) -> str:
    why = " ".join(str(p) for p in (ws.close_code, ws.close_reason) if p)
    return f"server closed the connection ({why or 'no close code'})"
