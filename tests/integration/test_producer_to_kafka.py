"""Simulator → Kraken producer → real Kafka: the topics fill with content a consumer can trust."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from prometheus_client import CollectorRegistry

from marketdata.config import MarketData, Settings
from marketdata.kafka.clients import make_consumer
from producers.exchanges.kraken.adapter import kraken_adapter_factory
from producers.runner import run_producer
from schemas import topics
from schemas.codec import Codec
from schemas.models import (
    OHLCV,
    BookUpdate,
    ConnectionState,
    ConnectionStatus,
    PriceTicker,
    RawFrames,
    Record,
    Subscription,
    SubscriptionAction,
    SubscriptionStatus,
    Trade,
)
from simulator.config import SimulatorConfig
from simulator.server import running_simulator
from tests.contract.producer.producer_harness import settings_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SYMBOLS = {"BTC/USD", "ETH/USD", "SOL/USD"}


async def _consume(
    bootstrap: str, names: list[str], until: float
) -> dict[str, list[tuple[bytes, Record]]]:
    codec = Codec()
    out: dict[str, list[tuple[bytes, Record]]] = defaultdict(list)
    consumer = make_consumer(bootstrap, *names, group_id=None)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + until
        while asyncio.get_running_loop().time() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for msg in messages:
                    out[tp.topic].append(
                        (msg.key, codec.decode(msg.value, topic=tp.topic, offset=msg.offset))
                    )
    finally:
        await consumer.stop()
    return out


def _time(record: Record) -> int:
    if isinstance(record, RawFrames):
        return record.frames[0].received_ts
    return int(getattr(record, "received_ts", None) or getattr(record, "ts", 0))


async def _consume_since(
    since_us: int,
    bootstrap: str,
    names: list[str],
    until: float,
) -> dict[str, list[tuple[bytes, Record]]]:
    """Only what this test's run produced (the broker may hold earlier runs' records)."""
    seen = await _consume(bootstrap, names, until)
    return {
        name: [(k, r) for k, r in records if _time(r) >= since_us] for name, records in seen.items()
    }


async def test_simulator_to_kafka_fills_every_raw_topic_with_valid_content(bootstrap: str) -> None:
    started_us = time.time_ns() // 1000
    async with running_simulator(SimulatorConfig(events_per_second=400)) as sim:
        exchange = settings_for(sim)
        settings = Settings(
            MarketData.model_validate({"exchanges": {"kraken": exchange.model_dump()}})
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_producer(
                settings,
                "kraken",
                bootstrap,
                CollectorRegistry(),
                kraken_adapter_factory(exchange),
                stop,
            )
        )
        await asyncio.sleep(4)
        # A control request on md.control.v1 is applied on the live connection and answered.
        from marketdata.kafka.clients import make_producer

        control = make_producer(bootstrap)
        await control.start()
        try:
            request = Subscription(
                exchange="kraken",
                symbol="SOL/USD",
                channels=[],
                action=SubscriptionAction.UNSUBSCRIBE,
                ts=1,
                requested_by="test",
            )
            await control.send_and_wait(
                topics.CONTROL.name, Codec().encode(request), key=b"kraken:SOL/USD"
            )
        finally:
            await control.stop()
        await asyncio.sleep(2)
        stop.set()
        await asyncio.wait_for(task, 30)

    seen = await _consume_since(
        started_us,
        bootstrap,
        [
            t.name
            for t in (
                topics.TICKER,
                topics.TRADES,
                topics.BOOK,
                topics.OHLC,
                topics.STATUS,
                topics.BALANCES,
                topics.RAW,
                topics.CONTROL,
            )
        ],
        until=6,
    )

    tickers = [r for _k, r in seen[topics.TICKER.name] if isinstance(r, PriceTicker)]
    assert {t.symbol for t in tickers} >= SYMBOLS
    assert all(k == f"kraken:{r.symbol}".encode() for k, r in seen[topics.TICKER.name])  # type: ignore[attr-defined]
    trades = [r for _k, r in seen[topics.TRADES.name] if isinstance(r, Trade)]
    assert trades
    assert all(t.price > 0 for t in trades)
    books = [r for _k, r in seen[topics.BOOK.name] if isinstance(r, BookUpdate)]
    assert {b.symbol for b in books} >= SYMBOLS
    assert all(b.checksum is not None for b in books)
    candles = [r for _k, r in seen[topics.OHLC.name] if isinstance(r, OHLCV)]
    assert sum(1 for c in candles if c.closed) >= 3 * 700  # 720-row history per symbol
    statuses = [r for _k, r in seen[topics.STATUS.name] if isinstance(r, ConnectionStatus)]
    assert ConnectionState.SUBSCRIBED in {s.state for s in statuses}
    assert seen[topics.BALANCES.name]
    raws = [(k, r) for k, r in seen[topics.RAW.name] if isinstance(r, RawFrames)]
    assert raws
    assert {k for k, _r in raws} == {b"kraken:public", b"kraken:private"}  # a key per connection
    by_connection = {
        key: [item for k, r in raws if k == key for item in r.frames] for key, _r in raws
    }
    public, private = by_connection[b"kraken:public"], by_connection[b"kraken:private"]
    assert {"book", "trade", "ticker", "ohlc"} <= {item.channel for item in public}
    assert "balances" in {item.channel for item in private}
    assert "balances" not in {item.channel for item in public}
    for frames in (public, private):  # each connection's frames in the order received
        assert [f.received_ts for f in frames] == sorted(f.received_ts for f in frames)
    frames = public + private
    assert len(frames) > 2 * len(raws), "frames are batched"
    answers = [
        r
        for _k, r in seen[topics.CONTROL.name]
        if isinstance(r, Subscription) and r.status is SubscriptionStatus.REMOVED
    ]
    assert [a.symbol for a in answers] == ["SOL/USD"]

    # Per-key sequence numbers: strictly increasing by one within the run (nothing lost or
    # duplicated between the producer and Kafka).
    by_key: dict[tuple[str, bytes], list[int]] = defaultdict(list)
    for name in (topics.TICKER.name, topics.TRADES.name, topics.BOOK.name):
        for key, record in seen[name]:
            if getattr(record, "symbol", None) in SYMBOLS:  # other tests share these topics
                by_key[(name, key)].append(record.seq)  # type: ignore[attr-defined]
    for (name, key), seqs in by_key.items():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (name, key)
