"""Kraken's forming candles through the stream: at most one per interval and key, every window's
final value, in order; released by the timer, on a dropped public stream and on stop. The raw
frames' batches on md.raw.v1 likewise."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from marketdata.config import ExchangeSettings
from producers.exchanges.kraken.adapter import KrakenAdapter
from producers.exchanges.kraken.stream import KrakenStream
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import OHLCV, RawFrames
from tests.contract.producer.producer_harness import RecordingPublisher, wait_for

MINUTE_US = 60_000_000
CONFLATED = "marketdata_producer_conflated_records_total"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ohlc_frame(
    close: float, *, minute: int = 0, interval: int = 1, symbol: str = "BTC/USD"
) -> bytes:
    candle = {
        "symbol": symbol,
        "open": 100.0,
        "high": max(100.0, close),
        "low": min(100.0, close),
        "close": close,
        "volume": 1.0,
        "trades": 1,
        "interval_begin": f"2026-09-25T17:{minute:02d}:00.000000000Z",
        "interval": interval,
    }
    return msgspec.json.encode({"channel": "ohlc", "type": "update", "data": [candle]})


async def _no_resync(symbol: str, reason: str) -> None:
    raise AssertionError(f"no book here to resync ({symbol}: {reason})")


class Setup:
    def __init__(self, conflate_seconds: float, raw_batch_seconds: float = 0.0) -> None:
        self.clock = Clock()
        self.published = RecordingPublisher()
        self.registry = CollectorRegistry()
        self.stream = KrakenStream(
            10,
            self.published,
            StatusReporter("kraken", self.published),
            ProducerMetrics(self.registry),
            _no_resync,
            ohlc_conflate_seconds=conflate_seconds,
            raw_batch_seconds=raw_batch_seconds,
            clock=self.clock,
        )

    async def feed(
        self,
        at: float,
        close: float,
        *,
        minute: int = 0,
        interval: int = 1,
        symbol: str = "BTC/USD",
    ) -> None:
        self.clock.now = at
        frame = ohlc_frame(close, minute=minute, interval=interval, symbol=symbol)
        await self.stream.on_frame(frame, 1)

    def candles(self) -> list[OHLCV]:
        return [c for c in self.published.of("md.ohlc.v1") if isinstance(c, OHLCV)]

    def closes(self) -> list[float]:
        return [c.close for c in self.candles()]

    def conflated(self) -> float:
        labels = {"exchange": "kraken", "topic": "md.ohlc.v1"}
        return self.registry.get_sample_value(CONFLATED, labels) or 0.0


async def test_a_burst_sends_its_first_candle_then_after_the_interval_its_last() -> None:
    s = Setup(0.5)
    for at, close in ((0.0, 1.0), (0.1, 2.0), (0.2, 3.0), (0.3, 4.0)):
        await s.feed(at, close)
    assert s.closes() == [1.0]

    s.clock.now = 0.4
    await s.stream.publish_due()
    assert s.closes() == [1.0], "not yet an interval since the last one went out"

    s.clock.now = 0.5
    await s.stream.publish_due()
    assert s.closes() == [1.0, 4.0]
    assert s.conflated() == 2  # 2.0 and 3.0 never went out
    [first, last] = s.candles()
    assert (last.symbol, last.timeframe, last.open_ts) == (first.symbol, "1m", first.open_ts)
    assert s.published.records["md.ohlc.v1"][-1][0] == "kraken:BTC/USD"


async def test_a_new_window_releases_the_final_value_of_the_previous_one_first() -> None:
    s = Setup(0.5)
    await s.feed(0.0, 1.0, minute=0)
    await s.feed(0.1, 2.0, minute=0)
    await s.feed(0.2, 3.0, minute=0)
    await s.feed(0.3, 4.0, minute=1)

    assert s.closes() == [1.0, 3.0, 4.0]
    opens = [c.open_ts for c in s.candles()]
    assert opens[1] == opens[0]
    assert opens[2] == opens[1] + MINUTE_US


async def test_each_symbol_and_interval_is_conflated_on_its_own() -> None:
    s = Setup(0.5)
    await s.feed(0.0, 1.0)
    await s.feed(0.0, 10.0, interval=5)
    await s.feed(0.0, 100.0, symbol="ETH/USD")
    await s.feed(0.1, 2.0)
    assert s.closes() == [1.0, 10.0, 100.0]
    assert s.conflated() == 0  # 2.0 waits; nothing was replaced yet


async def test_drain_publishes_every_candle_held_back_at_once() -> None:
    s = Setup(0.5)
    await s.feed(0.0, 1.0)
    await s.feed(0.1, 2.0)
    await s.feed(0.1, 20.0, symbol="ETH/USD")
    await s.feed(0.2, 21.0, symbol="ETH/USD")

    await s.stream.drain()
    assert s.closes() == [1.0, 20.0, 2.0, 21.0]
    await s.stream.drain()
    s.clock.now = 10.0
    await s.stream.publish_due()
    assert len(s.closes()) == 4, "nothing is published twice"


async def test_zero_publishes_every_candle_as_it_comes() -> None:
    s = Setup(0)
    for at, close in ((0.0, 1.0), (0.0, 2.0), (0.0, 3.0)):
        await s.feed(at, close)
    assert s.closes() == [1.0, 2.0, 3.0]
    await s.stream.drain()
    await s.stream.publish_due()
    assert s.closes() == [1.0, 2.0, 3.0]
    assert s.conflated() == 0


async def test_rest_history_is_never_conflated() -> None:
    s = Setup(60.0)
    await s.feed(0.0, 1.0)
    [live] = s.candles()
    history = [msgspec.structs.replace(live, close=close, closed=True) for close in (5.0, 6.0)]
    for candle in history:
        await s.stream.publish_candle(candle)
    assert s.closes() == [1.0, 5.0, 6.0]


# ---- the adapter owns the releases: a dropped public stream and stop() -------------------------


def adapter(published: RecordingPublisher, ws_url: str) -> KrakenAdapter:
    settings = ExchangeSettings.model_validate(
        {
            "ws_url": ws_url,
            "rest_url": "http://127.0.0.1:1",
            "ohlc_conflate_ms": 60_000,  # nothing comes due by itself during a test
            "backoff": {"initial_seconds": 30, "max_seconds": 30},
        }
    )
    status = StatusReporter("kraken", published)
    return KrakenAdapter(settings, published, status, ProducerMetrics(CollectorRegistry()))


async def _feed_a_held_back_candle(kraken: KrakenAdapter) -> None:
    await kraken.stream.on_frame(ohlc_frame(1.0), 1)
    await kraken.stream.on_frame(ohlc_frame(2.0), 2)


def _raw(published: RecordingPublisher) -> list[bytes]:
    return [
        i.payload for r in published.of("md.raw.v1") if isinstance(r, RawFrames) for i in r.frames
    ]


def _closes(published: RecordingPublisher) -> list[float]:
    return [c.close for c in published.of("md.ohlc.v1") if isinstance(c, OHLCV)]


async def test_stop_publishes_the_candles_held_back() -> None:
    published = RecordingPublisher()
    kraken = adapter(published, "ws://127.0.0.1:1")
    await _feed_a_held_back_candle(kraken)
    assert _closes(published) == [1.0]

    await kraken.stop()
    assert _closes(published) == [1.0, 2.0]


async def test_a_dropped_public_stream_publishes_the_candles_held_back() -> None:
    # Nothing listens on port 1: the connection fails at once, as a dropped one does.
    published = RecordingPublisher()
    kraken = adapter(published, "ws://127.0.0.1:1")
    await _feed_a_held_back_candle(kraken)

    session = asyncio.create_task(kraken.public.run())
    try:
        await wait_for(lambda: _closes(published) == [1.0, 2.0], timeout=5, what="drained")
    finally:
        await kraken.stop()
        await session
    assert _closes(published) == [1.0, 2.0]


async def test_raw_frames_of_every_channel_go_out_together_once_the_batch_is_old_enough() -> None:
    s = Setup(0.0, raw_batch_seconds=0.1)
    frames = [ohlc_frame(1.0), b'{"channel":"heartbeat"}', b"not json", ohlc_frame(2.0)]
    for at, frame in zip((0.0, 0.02, 0.04, 0.06), frames, strict=True):
        s.clock.now = at
        await s.stream.on_frame(frame, int(at * 1e6))
    assert s.published.of("md.raw.v1") == []
    assert s.closes() == [1.0, 2.0], "the parsed records do not wait for the audit copy"

    s.clock.now = 0.1
    await s.stream.publish_due()
    [batch] = s.published.of("md.raw.v1")
    assert isinstance(batch, RawFrames)
    assert [i.payload for i in batch.frames] == frames
    assert [i.channel for i in batch.frames] == ["ohlc", "heartbeat", "unparsed", "ohlc"]
    assert [i.received_ts for i in batch.frames] == [0, 20_000, 40_000, 60_000]
    key, _ = s.published.records["md.raw.v1"][0]
    assert key == "kraken:public"


async def test_each_connection_has_its_own_raw_batches_and_key() -> None:
    """The private stream's frames are not mixed into the public stream's: a replay reads each
    connection's frames in the order that connection received them."""
    s = Setup(0.0, raw_batch_seconds=0.1)
    public, private = ohlc_frame(1.0), b'{"channel":"heartbeat"}'
    await s.stream.on_frame(public, 1)
    await s.stream.on_frame(private, 2, connection="private")
    await s.stream.on_frame(b"not json", 3, connection="private")
    s.clock.now = 0.1
    await s.stream.publish_due()
    batches = {
        key: [(i.payload, i.channel) for i in batch.frames]
        for key, batch in s.published.records["md.raw.v1"]
        if isinstance(batch, RawFrames)
    }
    assert batches == {
        "kraken:public": [(public, "ohlc")],
        "kraken:private": [(private, "heartbeat"), (b"not json", "unparsed")],
    }


async def test_stop_and_a_dropped_stream_publish_the_raw_frames_held_back() -> None:
    published = RecordingPublisher()
    kraken = adapter(published, "ws://127.0.0.1:1")
    await _feed_a_held_back_candle(kraken)
    assert _raw(published) == []  # rawBatchMs: 100 by default

    session = asyncio.create_task(kraken.public.run())
    try:
        await wait_for(lambda: len(_raw(published)) == 2, timeout=5, what="drained")
    finally:
        await kraken.stop()
        await session
    await kraken.stream.on_frame(ohlc_frame(3.0), 3)
    await kraken.stop()
    assert _raw(published) == [ohlc_frame(1.0), ohlc_frame(2.0), ohlc_frame(3.0)]


async def test_a_failing_job_ends_the_adapter_and_leaves_none_of_its_jobs_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`run()` gathers jobs that loop until cancelled (the snapshot watch, the sessions). When
    one fails, the others are cancelled with it: the conftest's leaked-task guard fails this test
    otherwise (a stopped broker's test once leaked the snapshot watch this way)."""
    kraken = adapter(RecordingPublisher(), "ws://127.0.0.1:1")

    async def pairs_known() -> None:
        return None

    async def backfill_fails() -> None:
        raise RuntimeError("backfill broke")

    monkeypatch.setattr(kraken, "_load_pairs", pairs_known)
    monkeypatch.setattr(kraken, "_backfill_all", backfill_fails)
    with pytest.raises(RuntimeError, match="backfill broke"):
        await asyncio.wait_for(kraken.run(), 5)
    await kraken.stop()
