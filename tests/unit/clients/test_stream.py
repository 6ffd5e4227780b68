"""`MarketDataStream` against the real `/ws` relay: snapshots then live updates, state changes,
reconnect with resubscribe after the server restarts, server notices, and the backoff."""

from __future__ import annotations

import asyncio

import pytest

from clients import ConnectionChanged, MarketDataStream, MarketUpdate, ServerNotice, Topic
from clients.stream import StreamEvent, reconnect_delay, ws_url
from query_api.state import ApiState
from schemas import topics as t
from schemas.models import Balance, PriceTicker
from tests.unit.clients.live_api import LiveApi
from tests.unit.query_api.test_rest import NOW, price


async def next_of[E](stream: MarketDataStream, kind: type[E], timeout: float = 3.0) -> E:
    """The next event of `kind` (others are skipped)."""
    async with asyncio.timeout(timeout):
        async for event in stream:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"stream ended before a {kind.__name__}")


async def updates(stream: MarketDataStream, n: int) -> list[MarketUpdate]:
    return [await next_of(stream, MarketUpdate) for _ in range(n)]


def publish(api: ApiState, topic: str, record: object) -> None:
    """What the API's Kafka feed does with a record: apply it, then fan the change out."""
    updates = api.model.apply(topic, record)  # type: ignore[arg-type]
    assert updates
    for update in updates:
        api.hub.publish(update)


async def test_snapshots_then_updates_arrive_typed_and_last_value_follows(
    live: LiveApi, api: ApiState
) -> None:
    topics = [Topic("prices", ("BTC-USD",)), Topic("balances")]
    async with MarketDataStream(live.url, topics, backoff=0.05) as stream:
        up = await next_of(stream, ConnectionChanged)
        snaps = await updates(stream, 2)
        publish(api, t.PRICES.name, price(bid=105.0, ask=106.0, age_s=0))
        publish(api, t.PRICES.name, price("ETH/USD", 3100, 3101))  # not subscribed
        publish(
            api,
            t.BALANCES.name,
            Balance(
                exchange="kraken",
                asset="BTC",
                total=3,
                available=2,
                exchange_ts=NOW,
                received_ts=NOW,
                seq=2,
            ),
        )
        live_updates = await updates(stream, 2)

        assert (up.connected, stream.connected) == (True, True)
        assert sorted((u.channel, u.key, u.snapshot) for u in snaps) == [
            ("balances", "kraken:BTC", True),
            ("prices", "kraken:BTC/USD", True),
        ]
        first, second = live_updates
        assert isinstance(first.data, PriceTicker)
        assert (first.key, first.data.bid, first.data.ask, first.snapshot) == (
            "kraken:BTC/USD",
            105.0,
            106.0,
            False,
        )
        assert isinstance(second.data, Balance)
        assert second.data.total == 3.0
        btc = stream.last_value("prices", "btc-usd")
        assert isinstance(btc, PriceTicker)
        assert btc.bid == 105.0
        assert stream.last_value("prices", "ETH/USD") is None
        balance = stream.last_value("balances", "BTC")
        assert isinstance(balance, Balance)
        assert balance.available == 2.0
    assert not stream.connected


async def test_a_refused_subscription_is_a_server_notice(live: LiveApi) -> None:
    async with MarketDataStream(live.url, [Topic("prices", ("B$D",))]) as stream:
        notice = await next_of(stream, ServerNotice)
    assert "is not a symbol" in notice.message
    assert notice.channel == "prices"


async def test_subscribing_while_connected_sends_now_and_unsubscribing_stops_updates(
    live: LiveApi, api: ApiState
) -> None:
    topic = Topic("candles", ("BTC/USD",), timeframe="1m")
    async with MarketDataStream(live.url) as stream:
        await stream.wait_connected(3)
        await stream.subscribe(topic)
        (snap,) = await updates(stream, 1)
        await stream.unsubscribe(topic)
        await asyncio.sleep(0.1)
        publish(api, t.PRICES.name, price(bid=99, ask=100, age_s=0))
        assert stream.topics == ()
    assert (snap.channel, snap.key, snap.snapshot) == ("candles", "kraken:BTC/USD:1m", True)
    assert stream.last_value("candles", "BTC/USD", timeframe="1m") is snap.data


async def test_after_the_server_restarts_the_stream_reconnects_and_resubscribes(
    live: LiveApi, api: ApiState
) -> None:
    async with MarketDataStream(
        live.url, [Topic("prices", ("BTC/USD",))], backoff=0.05, max_backoff=0.2
    ) as stream:
        await next_of(stream, ConnectionChanged)
        await updates(stream, 1)

        await live.stop()
        down = await next_of(stream, ConnectionChanged)
        assert (down.connected, stream.connected) == (False, False)
        assert stream.disconnected_event.is_set()
        kept = stream.last_value("prices", "BTC/USD")
        assert isinstance(kept, PriceTicker)
        assert kept.bid == 100.0

        api.model.apply(t.PRICES.name, price(bid=110.0, ask=111.0, age_s=0))  # while down
        await asyncio.sleep(0.3)  # a few failed attempts
        await live.start()
        up = await next_of(stream, ConnectionChanged)
        (snap,) = await updates(stream, 1)

        assert up.connected
        assert stream.connected
        assert stream.reconnects == 1
        assert up.attempt >= 1
        assert snap.snapshot
        assert isinstance(snap.data, PriceTicker)
        assert snap.data.bid == 110.0
        now = stream.last_value("prices", "BTC/USD")
        assert isinstance(now, PriceTicker)
        assert now.bid == 110.0
        publish(api, t.PRICES.name, price(bid=120.0, ask=121.0, age_s=0))
        (update,) = await updates(stream, 1)
        assert (update.snapshot, update.data.bid) == (False, 120.0)  # type: ignore[attr-defined]


async def test_close_ends_iteration_and_a_stream_to_nowhere_keeps_trying(dead_url: str) -> None:
    stream = MarketDataStream(dead_url, [Topic("status")], backoff=0.01, max_backoff=0.05)
    stream.start()
    await asyncio.sleep(0.2)
    assert not stream.connected
    assert stream.last_error is not None
    assert "cannot connect" in stream.last_error
    await stream.close()
    seen: list[StreamEvent] = [event async for event in stream]
    assert all(not isinstance(e, MarketUpdate) for e in seen)
    assert [e async for e in stream] == []  # stays ended


def test_reconnect_delays_grow_exponentially_are_capped_and_jittered() -> None:
    lows = [reconnect_delay(n, 0.5, 30.0, rng=lambda: 0.0) for n in range(1, 10)]
    highs = [reconnect_delay(n, 0.5, 30.0, rng=lambda: 1.0) for n in range(1, 10)]
    assert highs == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert lows == [h / 2 for h in highs]


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:1", "ws://h:1/ws"),
        ("https://h/", "wss://h/ws"),
        ("ws://h:1/ws", "ws://h:1/ws"),
    ],
)
def test_ws_url(base: str, url: str) -> None:
    assert ws_url(base) == url
