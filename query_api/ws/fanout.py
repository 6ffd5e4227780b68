"""In-process fan-out of table updates to WebSocket clients: pure asyncio, no framework.

The API process consumes the table topics and hands every change to `Hub.publish` as an
`Update`. The hub pushes it to the clients subscribed to that (channel, key) and to the clients
subscribed to the whole channel ("*"). Litestar's channels plugin is not used: it drops
silently and cannot conflate. The design:

- **Encode once.** An `Update` caches its wire encoding per format ("json", "msgpack",
  "signalr", ...). The first client that sends it in a format encodes it, and every other client
  using that format gets the same bytes. Encoding is lazy: a format nobody uses is never encoded,
  and an update replaced by conflation before it was sent is never encoded at all. Clients that
  share a format must share its encoder.
- **Conflation.** On the channels in `CONFLATED` (prices, book) a newer update for the same
  (channel, key) replaces the queued one in place: the client gets the newest value, at the
  position where the key first arrived. Other channels (trades, candles, alerts, ...) append in
  order.
- **Bounded queues.** Each `Client` has a mailbox of at most `max_queue` updates. An update that
  would need a new entry in a full mailbox marks the client slow: its mailbox is dropped and
  the connection is closed with 1013 (try again later) and "client too slow: N updates queued".
  `publish` never blocks and never buffers beyond the bound.
- **One writer per client, with a deadline.** A writer task drains the mailbox and awaits
  `sender.send`. A send that takes longer than `send_timeout` closes the client ("send timed
  out"). An error from the sender means the connection is gone: the client ends quietly. Nothing
  a client does reaches the publisher.

Memory: a mailbox holds at most `max_queue` references to `Update` objects that are shared by
all clients (their encodings are shared too), plus the one frame being sent. Per-client memory
is therefore O(max_queue) whatever the publish rate, and a client that never reads is closed
once its mailbox is full instead of buffering forever.

Everything here runs on one event loop: `publish`, `offer`, `subscribe` and friends are
synchronous and must be called from that loop's thread.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol, Self

CHANNELS: Final = frozenset(
    {
        "prices",
        "trades",
        "book",
        "candles",
        "indicators",
        "balances",
        "positions",
        "status",
        "alerts",
    }
)
"""The channels a client may subscribe to."""

CONFLATED: Final = frozenset({"prices", "book"})
"""Channels where only the newest update per key matters (the default for `Client`)."""

WILDCARD: Final = "*"
"""Subscribe with this key to receive every key of a channel."""

CLOSE_TRY_AGAIN_LATER: Final = 1013
"""WebSocket close code for slow clients (RFC 6455 registry: "Try Again Later")."""

DEFAULT_MAX_QUEUE: Final = 1000
DEFAULT_SEND_TIMEOUT: Final = 5.0

Frame = bytes | str


@dataclass(frozen=True, slots=True)
class Update:
    """One change of a table, as pushed to clients; encodings are computed once per format."""

    channel: str
    key: str
    symbol: str | None
    timeframe: str | None
    payload: object
    _frames: dict[str, Frame] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def encoded(self, fmt: str, encoder: Callable[[Update], Frame]) -> Frame:
        """This update in wire format `fmt`, encoded by `encoder` on first use, then cached.

        Safe on one event loop: there is no await between the lookup and the store.
        """
        frame = self._frames.get(fmt)
        if frame is None:
            frame = encoder(self)
            self._frames[fmt] = frame
        return frame


Encoder = Callable[[Update], Frame]


class Sender(Protocol):
    """The connection a client writes to (a Litestar WebSocket relay or a SignalR adapter).

    `close` sends whatever the protocol needs before closing (SignalR: a Close message).
    """

    async def send(self, data: Frame) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class FanoutStats:
    """Counters, shared by a hub and its clients, for export to Prometheus."""

    published: int = 0
    """Updates handed to `Hub.publish`."""
    delivered: int = 0
    """Frames a sender accepted."""
    conflated: int = 0
    """Queued updates replaced in place by a newer one for the same key."""
    dropped_slow: int = 0
    """Clients closed because their mailbox was full."""
    timed_out: int = 0
    """Clients closed because a send missed its deadline."""
    disconnected: int = 0
    """Clients ended by an error from their sender (connection gone)."""
    encode_errors: int = 0
    """Updates skipped because the encoder raised."""


@dataclass(frozen=True, slots=True)
class CloseReason:
    """Why the fan-out closed a client's connection."""

    code: int
    reason: str


_Slot = tuple[str, str] | int


class Client:
    """One connection: a bounded, conflating mailbox and the writer task that drains it."""

    def __init__(
        self,
        sender: Sender,
        fmt: str,
        encoder: Encoder,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        conflated: Iterable[str] = CONFLATED,
        slow_close_code: int = CLOSE_TRY_AGAIN_LATER,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        if send_timeout <= 0:
            raise ValueError(f"send_timeout must be positive, got {send_timeout}")
        self.sender = sender
        self.fmt = fmt
        self.encoder = encoder
        self.max_queue = max_queue
        self.send_timeout = send_timeout
        self.conflated = frozenset(conflated)
        self.slow_close_code = slow_close_code
        self.close_reason: CloseReason | None = None
        self._hub: Hub | None = None
        self._own_stats = FanoutStats()
        self._pending: OrderedDict[_Slot, Update] = OrderedDict()
        self._order = itertools.count()
        self._wakeup = asyncio.Event()
        self._ended = asyncio.Event()
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def hub(self) -> Hub | None:
        return self._hub

    @property
    def stats(self) -> FanoutStats:
        """The hub's counters once the client is attached to one, else its own."""
        return self._hub.stats if self._hub is not None else self._own_stats

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Updates waiting in the mailbox (never more than `max_queue`)."""
        return len(self._pending)

    def attach(self, hub: Hub) -> None:
        """Bind to `hub` (done by `Hub.subscribe`): stopping the client then leaves the hub."""
        if self._hub is not None and self._hub is not hub:
            raise ValueError("client already belongs to another hub")
        self._hub = hub

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer task (idempotent; a no-op once the client has ended)."""
        if self._writer is None and not self._closed:
            self._writer = asyncio.create_task(self._run(), name=f"fanout-writer-{id(self):x}")

    async def stop(self) -> None:
        """Cancel the writer, drop the mailbox and leave the hub; the connection is left open.

        The connection handler owns the socket; a close the fan-out started itself (slow
        client) is awaited here, bounded by `send_timeout`.
        """
        self._end(None)
        current = asyncio.current_task()
        tasks = {t for t in (self._writer, self._closer) if t is not None and t is not current}
        if tasks:
            await asyncio.wait(tasks)

    async def wait_closed(self) -> None:
        """Wait until the client has ended (stopped, kicked, or its connection gone)."""
        await self._ended.wait()
        if self._closer is not None and self._closer is not asyncio.current_task():
            await asyncio.wait({self._closer})

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- mailbox ---------------------------------------------------------------------------

    def offer(self, update: Update) -> bool:
        """Queue `update` for this client (also used to queue a snapshot after subscribing).

        Returns False when the client is closed, or is closed now because its mailbox is full.
        """
        if self._closed:
            return False
        slot: _Slot
        if update.channel in self.conflated:
            slot = (update.channel, update.key)
            if slot in self._pending:
                self._pending[slot] = update  # keeps its position
                self.stats.conflated += 1
                return True
        else:
            slot = next(self._order)
        if len(self._pending) >= self.max_queue:
            self._kick_slow()
            return False
        self._pending[slot] = update
        self._wakeup.set()
        return True

    def _kick_slow(self) -> None:
        self.stats.dropped_slow += 1
        reason = f"client too slow: {len(self._pending)} updates queued"
        self._end(CloseReason(self.slow_close_code, reason))

    # -- writer ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending and not self._closed:
                _, update = self._pending.popitem(last=False)
                await self._deliver(update)

    async def _deliver(self, update: Update) -> None:
        try:
            frame = update.encoded(self.fmt, self.encoder)
        except Exception:  # a bad record must not end the connection
            self.stats.encode_errors += 1
            return
        deadline = asyncio.timeout(self.send_timeout)
        try:
            async with deadline:
                await self.sender.send(frame)
        except TimeoutError:
            if deadline.expired():
                self.stats.timed_out += 1
                self._end(CloseReason(self.slow_close_code, "send timed out"))
            else:
                self._gone()
        except Exception:  # the connection is gone; never reaches the hub
            self._gone()
        else:
            self.stats.delivered += 1

    def _gone(self) -> None:
        if not self._closed:
            self.stats.disconnected += 1
            self._end(None)

    # -- ending ----------------------------------------------------------------------------

    def _end(self, reason: CloseReason | None) -> None:
        """End once: drop the mailbox, leave the hub, cancel the writer, close if `reason`."""
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        self._pending.clear()
        if self._hub is not None:
            self._hub.remove(self)
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
        if reason is not None:
            self._closer = asyncio.get_running_loop().create_task(
                self._close_sender(reason), name=f"fanout-close-{id(self):x}"
            )
        self._ended.set()

    async def _close_sender(self, reason: CloseReason) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await self.sender.close(reason.code, reason.reason)
        except Exception:  # noqa: S110 - already ending; a failed close changes nothing
            pass


class Hub:
    """Subscription index and publisher: an update costs only its own subscribers."""

    def __init__(self, *, channels: Iterable[str] = CHANNELS) -> None:
        self.channels = frozenset(channels)
        self.stats = FanoutStats()
        self._by_key: dict[tuple[str, str], set[Client]] = {}
        self._by_channel: dict[str, set[Client]] = {}
        self._subs: dict[Client, set[tuple[str, str]]] = {}

    @property
    def clients(self) -> int:
        """Clients registered with the hub (subscribed at least once and not removed)."""
        return len(self._subs)

    def subscriptions(self, client: Client) -> frozenset[tuple[str, str]]:
        """The (channel, key or "*") pairs `client` is subscribed to."""
        return frozenset(self._subs.get(client, ()))

    def subscribe(self, client: Client, channel: str, key: str) -> bool:
        """Subscribe `client` to one key of `channel`, or to all of it with key "*".

        Returns False if the client was already subscribed or is closed.
        """
        if channel not in self.channels:
            raise ValueError(f"unknown channel {channel!r}")
        if client.closed:
            return False
        client.attach(self)
        subs = self._subs.setdefault(client, set())
        if (channel, key) in subs:
            return False
        subs.add((channel, key))
        self._index(channel, key).add(client)
        return True

    def unsubscribe(self, client: Client, channel: str, key: str) -> bool:
        """Drop one subscription; returns False if there was none. The client stays registered."""
        subs = self._subs.get(client)
        if subs is None or (channel, key) not in subs:
            return False
        subs.discard((channel, key))
        self._unindex(client, channel, key)
        return True

    def remove(self, client: Client) -> None:
        """Forget `client` and all its subscriptions (its writer is left to `Client.stop`)."""
        for channel, key in self._subs.pop(client, ()):
            self._unindex(client, channel, key)

    def publish(self, update: Update) -> int:
        """Queue `update` for its subscribers; returns how many clients it was queued for."""
        self.stats.published += 1
        exact = self._by_key.get((update.channel, update.key))
        wild = self._by_channel.get(update.channel)
        if exact and wild:
            targets: Iterable[Client] = exact | wild  # a client in both gets it once
        else:
            targets = tuple(exact or wild or ())  # a copy: a slow client leaves during the loop
        return sum(1 for client in targets if client.offer(update))

    async def stop(self) -> None:
        """Stop every registered client (shutdown)."""
        clients = list(self._subs)
        await asyncio.gather(*(client.stop() for client in clients))

    def _index(self, channel: str, key: str) -> set[Client]:
        if key == WILDCARD:
            return self._by_channel.setdefault(channel, set())
        return self._by_key.setdefault((channel, key), set())

    def _unindex(self, client: Client, channel: str, key: str) -> None:
        if key == WILDCARD:
            _discard(self._by_channel, channel, client)
        else:
            _discard(self._by_key, (channel, key), client)


def _discard[K](index: dict[K, set[Client]], slot: K, client: Client) -> None:
    members = index.get(slot)
    if members is None:
        return
    members.discard(client)
    if not members:
        del index[slot]
