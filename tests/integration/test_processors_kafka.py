"""The processor as a real faust worker against real Kafka: trades in, candles and indicators out,
and after `kill -9` and a restart the tables hold exactly what a run without the crash holds
(the reference is the same pure code, fed the same trades in one uninterrupted pass)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from marketdata.config.processors import TIMEFRAMES, IndicatorSettings
from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_producer
from processors.series import SymbolSeries, flush_forming, on_trade
from schemas import topics as t
from schemas.codec import Codec
from schemas.models import OHLCV, Record, Trade, TradeSide
from tests.integration.processor_harness import TableReader, worker, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOUR_US = 3_600_000_000
TRADES = 1500
SPACING_US = 400_000  # 10 minutes of exchange time: nine 1m closes, one 5m close
GRACE_US = 5_000_000
FORMING_US = 250_000


def make_trades(symbol: str, seed: int) -> list[Trade]:
    """Exchange times two days ahead: only trades close windows (never the worker's clock)."""
    rng = random.Random(seed)
    t0 = (time.time_ns() // 1000 + 48 * HOUR_US) // HOUR_US * HOUR_US
    price, out = 100.0, []
    for i in range(TRADES):
        price = max(1.0, round(price + rng.gauss(0, 0.3), 1))
        ts = t0 + i * SPACING_US + rng.randrange(0, 1000)
        out.append(
            Trade(
                exchange="kraken",
                symbol=symbol,
                trade_id=str(i),
                seq=i + 1,
                price=price,
                qty=round(rng.uniform(0.01, 2.0), 4),
                side=TradeSide.BUY if i % 2 else TradeSide.SELL,
                exchange_ts=ts,
                received_ts=ts,
                price_precision=1,
                size_precision=4,
            )
        )
    return out


def reference(trades: list[Trade]) -> dict[tuple[str, str], Record]:
    """What the tables must hold: latest value per key from one uninterrupted pass."""
    first = trades[0]
    key = f"{first.exchange}:{first.symbol}"
    series = SymbolSeries.new(
        first.exchange, first.symbol, TIMEFRAMES, GRACE_US, IndicatorSettings(), FORMING_US
    )
    latest: dict[tuple[str, str], Record] = {}
    steps = [on_trade(series, trade) for trade in trades]
    steps.append(flush_forming(series))
    for step in steps:
        for c in step.candles:
            latest[(t.CANDLES.name, f"{key}:{c.timeframe}:{c.open_ts}")] = c
        for ind in step.indicators:
            latest[(t.INDICATORS.name, f"{key}:{ind.timeframe}")] = ind
    return latest


async def publish(bootstrap: str, trades: list[Trade]) -> None:
    codec, producer = Codec(), make_producer(bootstrap)
    await producer.start()
    try:
        for trade in trades:
            key = f"{trade.exchange}:{trade.symbol}".encode()
            await producer.send(t.TRADES.name, codec.encode(trade), key=key)
        await producer.flush()
    finally:
        await producer.stop()


def closed_1m(reader: TableReader) -> int:
    return sum(
        1
        for (topic, _), r in reader.latest.items()
        if topic == t.CANDLES.name and isinstance(r, OHLCV) and r.closed and r.timeframe == "1m"
    )


async def test_kill_9_and_restart_leave_the_same_tables_as_an_uninterrupted_run(
    bootstrap: str, unique: object, tmp_path: Path
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    tag = unique("x").split(".")[-1][:8].upper()  # type: ignore[operator]
    symbol = f"K{tag}/USD"
    trades = make_trades(symbol, seed=len(symbol))
    expected = reference(trades)
    assert sum(1 for r in expected.values() if isinstance(r, OHLCV) and r.closed) >= 10

    config = write_config(tmp_path / "config.yaml", bootstrap, f"it-kill9-{tag.lower()}-v1")
    prefix = f"kraken:{symbol}:"
    async with TableReader(bootstrap, (t.CANDLES, t.INDICATORS), prefix) as reader:
        with worker(config, tmp_path / "worker.log") as w:
            await publish(bootstrap, trades)
            deadline = time.monotonic() + 90
            while closed_1m(reader) < 3:  # part of the way through: crash now
                assert w.alive(), w.tail()
                assert time.monotonic() < deadline, w.tail()
                await reader.poll()
            w.kill9()
            assert closed_1m(reader) < 9, "the worker finished before it could be killed"
            w.start()
            deadline = time.monotonic() + 120
            while reader.latest != expected:
                assert w.alive(), w.tail()
                if time.monotonic() > deadline:
                    missing = set(expected) - set(reader.latest)
                    wrong = [
                        k
                        for k in expected
                        if k in reader.latest and reader.latest[k] != expected[k]
                    ]
                    pytest.fail(f"missing {sorted(missing)[:5]}, wrong {wrong[:5]}\n{w.tail()}")
                await reader.poll()

    # Every closed candle ever written (before and after the crash) is the same candle: nothing
    # was counted twice by the replay, nothing was lost.
    for (_, key), records in reader.history.items():
        closes = {msgspec.msgpack.encode(r) for r in records if isinstance(r, OHLCV) and r.closed}
        assert len(closes) <= 1, f"{key} was closed with different contents: {records}"
    assert w.starts == 2


async def test_a_worker_stopped_while_its_table_writes_wait_exits_cleanly_and_commits_them(
    bootstrap: str, unique: object, tmp_path: Path
) -> None:
    """SIGTERM with records processed but not yet acknowledged (their table writes wait for a
    flush ten seconds away): the worker's stop waits for them, the flush still runs, and the
    worker exits 0 with every record it took committed. A faust timer would have ended with
    the stop and left the worker waiting until it was killed."""
    await ensure_topics(bootstrap, replication_factor=1)
    tag = unique("s").split(".")[-1][:8].upper()  # type: ignore[operator]
    symbol = f"S{tag}/USD"
    trades = make_trades(symbol, seed=7)[:200]
    app_id = f"it-stop-{tag.lower()}-v1"
    config = write_config(tmp_path / "config.yaml", bootstrap, app_id, changelogFlushMs=10_000)
    async with TableReader(bootstrap, (t.CANDLES,), f"kraken:{symbol}:") as reader:
        with worker(config, tmp_path / "worker.log") as w:
            await publish(bootstrap, trades)
            deadline = time.monotonic() + 90
            while not any(  # the last trade is processed
                isinstance(r, OHLCV) and r.exchange_ts == trades[-1].exchange_ts
                for r in reader.latest.values()
            ):
                assert w.alive(), w.tail()
                assert time.monotonic() < deadline, w.tail()
                await reader.poll()
            began = time.monotonic()
            assert w.stop() == 0, w.tail()
            print(f"stopped in {time.monotonic() - began:.1f}s")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=app_id)
    await consumer.start()
    try:
        committed = {
            p: await consumer.committed(TopicPartition(t.TRADES.name, p))
            for p in range(t.TRADES.partitions)
        }
        ends = await consumer.end_offsets(
            [TopicPartition(t.TRADES.name, p) for p in range(t.TRADES.partitions)]
        )
    finally:
        await consumer.stop()
    # Our trades' partition is committed to its end (records of other tests sit before ours in
    # it, and in the other partitions a new group may still be catching up).
    key = f"kraken:{symbol}".encode()
    everything = list(range(t.TRADES.partitions))
    ours = DefaultPartitioner()(key, everything, everything)
    assert committed[ours] == ends[TopicPartition(t.TRADES.name, ours)], (ours, committed, ends)
