"""The in-process fan-out: encode once per format, per-key and wildcard subscriptions,
conflation, bounded mailboxes, send deadlines, slow and vanished clients, and lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from query_api.ws.fanout import (
    CLOSE_TRY_AGAIN_LATER,
    Client,
    CloseReason,
    Frame,
    Hub,
    Update,
)
from schemas.models import PriceTicker, Trade, TradeSide

T0 = 1_790_000_000_000_000  # microseconds
BTC = "kraken:BTC/USD"
ETH = "kraken:ETH/USD"

# -- fakes -------------------------------------------------------------------------------


class FakeSender:
    """Records frames and closes; can block forever on send or fail with an error."""

    def __init__(self, *, block: bool = False, fail: BaseException | None = None) -> None:
        self.frames: list[Frame] = []
        self.closes: list[tuple[int, str]] = []
        self.block = block
        self.fail = fail
        self.sending = asyncio.Event()
        self._grew = asyncio.Event()

    async def send(self, data: Frame) -> None:
        self.sending.set()
        if self.fail is not None:
            raise self.fail
        if self.block:
            await asyncio.Event().wait()
        self.frames.append(data)
        self._grew.set()

    async def received(self, n: int, timeout: float = 1.0) -> list[Frame]:
        """Wait until `n` frames have arrived (and fail after `timeout`)."""
        async with asyncio.timeout(timeout):
            while len(self.frames) < n:
                self._grew.clear()
                await self._grew.wait()
        return self.frames

    async def close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))


@dataclass
class CountingEncoder:
    """A real wire encoding (JSON, msgpack or SignalR JSON text) that records every call."""

    fmt: str
    calls: list[Update] = field(default_factory=list)

    def __call__(self, update: Update) -> Frame:
        self.calls.append(update)
        message = {"channel": update.channel, "key": update.key, "data": update.payload}
        if self.fmt == "msgpack":
            return msgspec.msgpack.encode(message)
        if self.fmt == "signalr":
            invocation = {"type": 1, "target": update.channel, "arguments": [message]}
            return msgspec.json.encode(invocation).decode() + "\x1e"
        return msgspec.json.encode(message)


def decode(fmt: str, frame: Frame) -> dict[str, object]:
    """Back to {"channel", "key", "data"} whatever the format."""
    if fmt == "msgpack":
        assert isinstance(frame, bytes)
        message = msgspec.msgpack.decode(frame)
    elif fmt == "signalr":
        assert isinstance(frame, str)
        assert frame.endswith("\x1e")
        invocation = msgspec.json.decode(frame[:-1])
        assert invocation["type"] == 1
        message = invocation["arguments"][0]
        assert invocation["target"] == message["channel"]
    else:
        assert isinstance(frame, bytes)
        message = msgspec.json.decode(frame)
    assert isinstance(message, dict)
    return message


def summary(fmt: str, frame: Frame) -> tuple[str, str, object]:
    """(channel, key, trade id or last price) of one frame."""
    message = decode(fmt, frame)
    data = message["data"]
    assert isinstance(data, dict)
    value = data["trade_id"] if message["channel"] == "trades" else data["last"]
    channel, key = message["channel"], message["key"]
    assert isinstance(channel, str)
    assert isinstance(key, str)
    return channel, key, value


# -- updates -----------------------------------------------------------------------------


def price(key: str, last: float) -> Update:
    exchange, symbol = key.split(":")
    ticker = PriceTicker(
        exchange=exchange,
        symbol=symbol,
        bid=last - 1,
        bid_qty=1.0,
        ask=last + 1,
        ask_qty=1.0,
        last=last,
        volume_24h=10.0,
        vwap_24h=last,
        high_24h=last,
        low_24h=last,
        change_24h=0.0,
        exchange_ts=T0,
        received_ts=T0,
    )
    return Update("prices", key, symbol, None, ticker)


def trade(key: str, trade_id: str, at: float = 100.0) -> Update:
    exchange, symbol = key.split(":")
    record = Trade(
        exchange=exchange,
        symbol=symbol,
        trade_id=trade_id,
        price=at,
        qty=0.5,
        side=TradeSide.BUY,
        exchange_ts=T0,
        received_ts=T0,
    )
    return Update("trades", key, symbol, None, record)


def tagged(channel: str, key: str, n: int) -> Update:
    """A light update whose payload is just a number (for the model tests)."""
    return Update(channel, key, None, None, n)


def tag(update: Update) -> Frame:
    return f"{update.channel}|{update.key}|{update.payload}"


# -- harness -----------------------------------------------------------------------------


@dataclass
class Harness:
    hub: Hub
    made: list[Client] = field(default_factory=list)

    async def client(
        self,
        sender: FakeSender | None = None,
        fmt: str = "json",
        encoder: Callable[[Update], Frame] | None = None,
        *,
        start: bool = True,
        max_queue: int = 1000,
        send_timeout: float = 1.0,
    ) -> tuple[Client, FakeSender]:
        sender = sender if sender is not None else FakeSender()
        client = Client(
            sender,
            fmt,
            encoder if encoder is not None else CountingEncoder(fmt),
            max_queue=max_queue,
            send_timeout=send_timeout,
        )
        self.made.append(client)
        if start:
            await client.start()
        return client, sender


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(Hub())
    yield h
    for client in h.made:
        await client.stop()


# -- Update ------------------------------------------------------------------------------


def test_update_encodes_once_per_format_and_caches() -> None:
    update = trade(BTC, "t1")
    as_json, as_msgpack = CountingEncoder("json"), CountingEncoder("msgpack")

    first = update.encoded("json", as_json)
    assert update.encoded("json", as_json) is first
    packed = update.encoded("msgpack", as_msgpack)

    assert as_json.calls == [update]
    assert as_msgpack.calls == [update]
    assert summary("json", first) == ("trades", BTC, "t1")
    assert summary("msgpack", packed) == ("trades", BTC, "t1")
    assert update == trade(BTC, "t1")  # the cache is not part of the value


# -- fan-out -----------------------------------------------------------------------------


async def test_fan_out_to_many_clients_encodes_once_per_format(harness: Harness) -> None:
    formats = ("json", "msgpack", "signalr")
    encoders = {fmt: CountingEncoder(fmt) for fmt in formats}
    clients = [
        await harness.client(fmt=formats[i % 3], encoder=encoders[formats[i % 3]])
        for i in range(30)
    ]
    for client, _ in clients:
        harness.hub.subscribe(client, "trades", BTC)
    updates = [trade(BTC, f"t{i}", 100.0 + i) for i in range(20)]

    assert [harness.hub.publish(u) for u in updates] == [30] * 20
    await asyncio.gather(*(sender.received(20) for _, sender in clients))

    expected = [("trades", BTC, f"t{i}") for i in range(20)]
    for client, sender in clients:
        assert [summary(client.fmt, f) for f in sender.frames] == expected
    for fmt, encoder in encoders.items():
        assert encoder.calls == updates, fmt  # each update exactly once, for ten clients
    # clients of one format share the very same frame object
    json_frames = [sender.frames[0] for client, sender in clients if client.fmt == "json"]
    assert all(frame is json_frames[0] for frame in json_frames)
    assert harness.hub.stats.published == 20
    assert harness.hub.stats.delivered == 600


async def test_per_key_and_wildcard_subscriptions(harness: Harness) -> None:
    hub = harness.hub
    btc_only, btc_sender = await harness.client()
    all_prices, all_sender = await harness.client()
    both, both_sender = await harness.client()
    trades_only, trades_sender = await harness.client()
    hub.subscribe(btc_only, "prices", BTC)
    hub.subscribe(all_prices, "prices", "*")
    hub.subscribe(both, "prices", BTC)
    hub.subscribe(both, "prices", "*")
    hub.subscribe(trades_only, "trades", "*")

    assert hub.publish(price(BTC, 50_000.0)) == 3
    assert hub.publish(price(ETH, 3_000.0)) == 2
    assert hub.publish(trade(BTC, "t1")) == 1
    assert hub.publish(price("kraken:SOL/USD", 150.0)) == 2
    await both_sender.received(3)
    await trades_sender.received(1)
    await asyncio.sleep(0.01)  # nothing else is on its way

    assert [summary("json", f) for f in btc_sender.frames] == [("prices", BTC, 50_000.0)]
    wild = [
        ("prices", BTC, 50_000.0),
        ("prices", ETH, 3_000.0),
        ("prices", "kraken:SOL/USD", 150.0),
    ]
    assert [summary("json", f) for f in all_sender.frames] == wild
    assert [summary("json", f) for f in both_sender.frames] == wild  # once, not twice
    assert [summary("json", f) for f in trades_sender.frames] == [("trades", BTC, "t1")]
    assert hub.clients == 4


async def test_unsubscribe_and_remove(harness: Harness) -> None:
    hub = harness.hub
    client, sender = await harness.client()
    assert hub.subscribe(client, "prices", BTC)
    assert not hub.subscribe(client, "prices", BTC)  # already
    assert hub.subscribe(client, "trades", "*")
    assert hub.subscriptions(client) == {("prices", BTC), ("trades", "*")}

    assert hub.unsubscribe(client, "prices", BTC)
    assert not hub.unsubscribe(client, "prices", BTC)
    assert not hub.unsubscribe(client, "book", BTC)
    assert hub.publish(price(BTC, 1.0)) == 0
    assert hub.publish(trade(ETH, "e1")) == 1
    assert hub.clients == 1  # still registered with no price subscription

    assert hub.unsubscribe(client, "trades", "*")
    assert hub.publish(trade(ETH, "e2")) == 0
    hub.subscribe(client, "trades", ETH)
    hub.remove(client)
    assert hub.clients == 0
    assert hub.subscriptions(client) == frozenset()
    assert hub.publish(trade(ETH, "e3")) == 0
    await sender.received(1)
    assert [summary("json", f) for f in sender.frames] == [("trades", ETH, "e1")]


async def test_subscribe_validates(harness: Harness) -> None:
    client, _ = await harness.client()
    with pytest.raises(ValueError, match="unknown channel"):
        harness.hub.subscribe(client, "gossip", BTC)
    harness.hub.subscribe(client, "prices", BTC)
    with pytest.raises(ValueError, match="another hub"):
        Hub().subscribe(client, "prices", BTC)
    with pytest.raises(ValueError, match="max_queue"):
        Client(FakeSender(), "json", tag, max_queue=0)
    with pytest.raises(ValueError, match="send_timeout"):
        Client(FakeSender(), "json", tag, send_timeout=0)


async def test_publish_returns_counts(harness: Harness) -> None:
    hub = harness.hub
    assert hub.publish(trade(BTC, "nobody")) == 0
    first, _ = await harness.client()
    second, _ = await harness.client()
    gone, _ = await harness.client()
    for client in (first, second, gone):
        hub.subscribe(client, "trades", BTC)
    assert hub.publish(trade(BTC, "t1")) == 3
    await gone.stop()
    assert hub.publish(trade(BTC, "t2")) == 2
    assert hub.publish(trade(ETH, "t3")) == 0
    assert hub.stats.published == 4


# -- conflation --------------------------------------------------------------------------


async def test_conflation_keeps_latest_price_per_key_and_every_trade(harness: Harness) -> None:
    hub = harness.hub
    encoder = CountingEncoder("json")
    client, sender = await harness.client(encoder=encoder, start=False)
    hub.subscribe(client, "prices", "*")
    hub.subscribe(client, "trades", "*")

    for i in range(50):
        hub.publish(price(BTC, 50_000.0 + i))
        hub.publish(trade(BTC, f"b{i}"))
        hub.publish(price(ETH, 3_000.0 + i))
        hub.publish(trade(ETH, f"e{i}"))
    assert client.pending == 2 + 100
    assert hub.stats.conflated == 2 * 49

    await client.start()
    await sender.received(102)

    received = [summary("json", f) for f in sender.frames]
    trades = [(k, v) for c, k, v in received if c == "trades"]
    assert trades == [(key, f"{p}{i}") for i in range(50) for key, p in ((BTC, "b"), (ETH, "e"))]
    # each key keeps the position where it first arrived, carrying the newest value
    assert received[0] == ("prices", BTC, 50_049.0)
    assert received[1] == ("trades", BTC, "b0")
    assert received[2] == ("prices", ETH, 3_049.0)
    assert received[3] == ("trades", ETH, "e0")
    # replaced prices were never encoded
    assert sum(1 for u in encoder.calls if u.channel == "prices") == 2


async def test_book_conflates_candles_append(harness: Harness) -> None:
    hub = harness.hub
    client, sender = await harness.client(encoder=tag, start=False)
    hub.subscribe(client, "book", BTC)
    hub.subscribe(client, "candles", f"{BTC}:1m")
    for i in range(3):
        hub.publish(tagged("book", BTC, i))
        hub.publish(tagged("candles", f"{BTC}:1m", i))
    await client.start()
    await sender.received(4)
    assert sender.frames == [
        f"book|{BTC}|2",
        f"candles|{BTC}:1m|0",
        f"candles|{BTC}:1m|1",
        f"candles|{BTC}:1m|2",
    ]


def model_mailbox(updates: list[Update], max_queue: int) -> tuple[list[Frame], CloseReason | None]:
    """What a client that reads nothing until the end should receive: a naive reference."""
    queue: list[Update] = []
    for update in updates:
        if update.channel in {"prices", "book"}:
            slot = (update.channel, update.key)
            at = next((i for i, q in enumerate(queue) if (q.channel, q.key) == slot), None)
            if at is not None:
                queue[at] = update
                continue
        if len(queue) >= max_queue:
            reason = f"client too slow: {len(queue)} updates queued"
            return [], CloseReason(CLOSE_TRY_AGAIN_LATER, reason)
        queue.append(update)
    return [tag(u) for u in queue], None


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["prices", "book", "trades", "alerts"]),
            st.sampled_from(["a:X/Y", "a:Z/Y", "b:X/Y"]),
        ),
        max_size=40,
    ),
    max_queue=st.integers(1, 8),
)
def test_mailbox_matches_model(ops: list[tuple[str, str]], max_queue: int) -> None:
    updates = [tagged(channel, key, i) for i, (channel, key) in enumerate(ops)]
    expected, kicked = model_mailbox(updates, max_queue)

    async def scenario() -> None:
        hub = Hub()
        sender = FakeSender()
        client = Client(sender, "tag", tag, max_queue=max_queue, send_timeout=0.5)
        for channel in ("prices", "book", "trades", "alerts"):
            hub.subscribe(client, channel, "*")
        for update in updates:
            hub.publish(update)
            assert client.pending <= max_queue
        await client.start()
        if kicked is None:
            await sender.received(len(expected))
        else:
            await client.wait_closed()
        await client.stop()
        assert sender.frames == expected
        assert client.close_reason == kicked
        assert sender.closes == ([] if kicked is None else [(kicked.code, kicked.reason)])

    asyncio.run(scenario())


# -- slow and vanished clients -----------------------------------------------------------


async def test_send_deadline_closes_slow_client_others_keep_receiving(harness: Harness) -> None:
    hub = harness.hub
    slow, slow_sender = await harness.client(FakeSender(block=True), send_timeout=0.05)
    fast, fast_sender = await harness.client()
    hub.subscribe(slow, "trades", "*")
    hub.subscribe(fast, "trades", "*")

    assert [hub.publish(trade(BTC, f"t{i}")) for i in range(3)] == [2, 2, 2]
    async with asyncio.timeout(0.5):
        await slow.wait_closed()

    assert slow.closed
    assert slow.close_reason == CloseReason(1013, "send timed out")
    assert slow_sender.closes == [(1013, "send timed out")]
    assert slow_sender.frames == []
    assert slow.pending == 0  # mailbox dropped
    assert hub.stats.timed_out == 1
    assert hub.subscriptions(slow) == frozenset()
    assert hub.publish(trade(BTC, "t3")) == 1
    await fast_sender.received(4)
    assert [summary("json", f)[2] for f in fast_sender.frames] == ["t0", "t1", "t2", "t3"]
    assert not fast.closed


async def test_full_mailbox_closes_client_with_reason(harness: Harness) -> None:
    hub = harness.hub
    slow, slow_sender = await harness.client(FakeSender(block=True), max_queue=5)
    fast, fast_sender = await harness.client()
    hub.subscribe(slow, "trades", BTC)
    hub.subscribe(fast, "trades", BTC)

    counts = [hub.publish(trade(BTC, f"t{i}")) for i in range(8)]

    assert counts == [2] * 5 + [1] * 3
    assert slow.closed
    too_slow = "client too slow: 5 updates queued"
    assert slow.close_reason == CloseReason(CLOSE_TRY_AGAIN_LATER, too_slow)
    assert slow.pending == 0
    assert hub.stats.dropped_slow == 1
    await slow.wait_closed()
    assert slow_sender.closes == [(1013, "client too slow: 5 updates queued")]
    assert not slow.offer(trade(BTC, "late"))
    assert not hub.subscribe(slow, "trades", ETH)
    await fast_sender.received(8)
    assert [summary("json", f)[2] for f in fast_sender.frames] == [f"t{i}" for i in range(8)]


async def test_slow_client_stuck_in_send_is_cancelled_when_kicked(harness: Harness) -> None:
    hub = harness.hub
    slow, slow_sender = await harness.client(FakeSender(block=True), max_queue=2)
    hub.subscribe(slow, "alerts", "*")
    hub.publish(tagged("alerts", "x", 0))
    await slow_sender.sending.wait()  # the writer is now inside a send that never ends
    for i in range(1, 4):
        hub.publish(tagged("alerts", "x", i))
    async with asyncio.timeout(0.2):
        await slow.wait_closed()
    assert slow.close_reason == CloseReason(1013, "client too slow: 2 updates queued")
    writer = slow._writer
    assert writer is not None
    await asyncio.wait({writer}, timeout=0.2)
    assert writer.cancelled()


@pytest.mark.parametrize(
    "error", [ConnectionError("gone"), ConnectionResetError(), TimeoutError("socket's own")]
)
async def test_sender_error_ends_only_that_client(harness: Harness, error: Exception) -> None:
    hub = harness.hub
    broken, broken_sender = await harness.client(FakeSender(fail=error))
    healthy, healthy_sender = await harness.client()
    hub.subscribe(broken, "trades", "*")
    hub.subscribe(healthy, "trades", "*")

    hub.publish(trade(BTC, "t1"))
    async with asyncio.timeout(0.5):
        await broken.wait_closed()
    hub.publish(trade(BTC, "t2"))

    assert broken.closed
    assert broken.close_reason is None  # nobody to say goodbye to
    assert broken_sender.closes == []
    assert hub.stats.disconnected == 1
    assert hub.stats.timed_out == 0
    assert hub.clients == 1
    await healthy_sender.received(2)
    assert [summary("json", f)[2] for f in healthy_sender.frames] == ["t1", "t2"]


async def test_encoder_error_skips_the_update_only(harness: Harness) -> None:
    def picky(update: Update) -> Frame:
        if update.payload == 1:
            raise ValueError("cannot encode")
        return tag(update)

    client, sender = await harness.client(encoder=picky)
    harness.hub.subscribe(client, "alerts", "*")
    for i in range(3):
        harness.hub.publish(tagged("alerts", "x", i))
    await sender.received(2)
    assert sender.frames == ["alerts|x|0", "alerts|x|2"]
    assert harness.hub.stats.encode_errors == 1
    assert not client.closed


# -- memory bound ------------------------------------------------------------------------


async def test_queue_bound_holds_under_a_burst_for_a_client_that_never_reads(
    harness: Harness,
) -> None:
    hub = harness.hub
    idle, idle_sender = await harness.client(start=False, max_queue=1000)
    hub.subscribe(idle, "trades", BTC)

    longest = 0
    counts = []
    for i in range(100_000):
        counts.append(hub.publish(tagged("trades", BTC, i)))
        longest = max(longest, idle.pending)

    assert longest == 1000
    assert counts[:1000] == [1] * 1000
    assert set(counts[1000:]) == {0}  # kicked on the 1001st, then gone from the index
    assert idle.closed
    assert idle.pending == 0  # the mailbox is released, not kept
    await idle.wait_closed()
    assert idle_sender.closes == [(1013, "client too slow: 1000 updates queued")]
    assert hub.stats.dropped_slow == 1


async def test_conflated_burst_stays_at_one_entry_per_key(harness: Harness) -> None:
    hub = harness.hub
    stuck, stuck_sender = await harness.client(FakeSender(block=True), max_queue=1000)
    hub.subscribe(stuck, "prices", "*")
    keys = [f"kraken:C{k}/USD" for k in range(10)]
    hub.publish(price(keys[0], 0.0))
    await stuck_sender.sending.wait()  # writer holds one update in flight, blocked

    longest = 0
    for i in range(100_000):
        hub.publish(price(keys[i % 10], float(i)))
        longest = max(longest, stuck.pending)

    assert longest == 10
    assert not stuck.closed
    assert hub.stats.conflated == 100_000 - 10
    await stuck.stop()
    assert stuck.pending == 0


# -- lifecycle ---------------------------------------------------------------------------


async def test_stop_cancels_writer_and_removes_subscriptions(harness: Harness) -> None:
    hub = harness.hub
    client, sender = await harness.client(FakeSender(block=True), send_timeout=5.0)
    hub.subscribe(client, "trades", "*")
    hub.subscribe(client, "prices", BTC)
    hub.publish(trade(BTC, "t1"))
    hub.publish(trade(BTC, "t2"))
    await sender.sending.wait()
    writer = client._writer
    assert writer is not None

    async with asyncio.timeout(0.2):
        await client.stop()

    assert writer.cancelled()
    assert client.closed
    assert client.close_reason is None
    assert client.pending == 0
    assert sender.closes == []  # the connection handler owns the socket
    assert hub.clients == 0
    assert hub.subscriptions(client) == frozenset()
    assert hub.publish(trade(BTC, "t3")) == 0
    assert hub.publish(price(BTC, 1.0)) == 0
    await client.stop()  # idempotent
    await client.start()  # a no-op once ended
    assert client._writer is writer


async def test_async_context_manager(harness: Harness) -> None:
    hub = harness.hub
    sender = FakeSender()
    async with Client(sender, "json", CountingEncoder("json")) as client:
        hub.subscribe(client, "trades", BTC)
        assert hub.publish(trade(BTC, "t1")) == 1
        await sender.received(1)
    assert client.closed
    assert hub.clients == 0
    assert [summary("json", f) for f in sender.frames] == [("trades", BTC, "t1")]


async def test_hub_stop_stops_every_client(harness: Harness) -> None:
    hub = harness.hub
    clients = [(await harness.client())[0] for _ in range(5)]
    for client in clients:
        hub.subscribe(client, "status", "*")
    await hub.stop()
    assert hub.clients == 0
    assert all(client.closed for client in clients)
