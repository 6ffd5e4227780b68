"""Processor throughput: trades per second through candles (six timeframes) and indicators.

Three levels, each on the same seeded trades of one symbol (prices a random walk, one trade every
50 ms of exchange time, so windows of every timeframe close along the way):

1. pure: the candle and indicator logic alone (`processors.series`), no faust, no Kafka;
2. agent: the faust `candles` agent on faust's in-memory test context: decoding, state tables
   (msgpack), price table, encoding of every output; no broker;
3. kafka: a real `marketdata processor` worker against a real broker. The trades are published
   first; the clock runs from the worker's start until the last trade's effects are in
   `md.candles.v1` (so it includes the worker joining its group, a few seconds).

    .venv/bin/python bench/bench_processors.py [--trades 20000] [--kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

from marketdata.config import load_config
from marketdata.config.processors import TIMEFRAMES, IndicatorSettings
from processors.app import create_app
from processors.series import SymbolSeries, on_trade
from schemas import topics as t
from schemas.codec import Codec
from schemas.models import Trade, TradeSide

T0 = 1_800_000_000_000_000


def trades(n: int, symbol: str = "BTC/USD") -> list[Trade]:
    rng, price, out = random.Random(7), 60_000.0, []
    for i in range(n):
        price = round(max(1.0, price + rng.gauss(0, 5)), 1)
        ts = T0 + i * 50_000
        out.append(
            Trade(
                exchange="kraken",
                symbol=symbol,
                trade_id=str(i),
                price=price,
                qty=round(rng.uniform(0.001, 1), 6),
                side=TradeSide.BUY if i % 2 else TradeSide.SELL,
                exchange_ts=ts,
                received_ts=ts,
                price_precision=1,
                size_precision=8,
            )
        )
    return out


def bench_pure(batch: list[Trade]) -> float:
    series = SymbolSeries.new(
        "kraken", "BTC/USD", TIMEFRAMES, 5_000_000, IndicatorSettings(), 250_000
    )
    started = time.perf_counter()
    for trade in batch:
        on_trade(series, trade)
    return len(batch) / (time.perf_counter() - started)


async def bench_agent(batch: list[Trade]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # faust's data dir
        settings = load_config(None, {})
        ctx = create_app(settings, "127.0.0.1:9", CollectorRegistry(), restore_alerts=False)
        ctx.captured = []
        ctx.app.conf.store = "memory://"
        ctx.app.finalize()
        ctx.app.flow_control.resume()
        encoded = [ctx.codec.encode(trade) for trade in batch]
        async with ctx.app.agents["candles"].test_context() as agent:
            started = time.perf_counter()
            for value in encoded:
                await agent.put(value, key=b"kraken:BTC/USD")
            elapsed = time.perf_counter() - started
        return len(batch) / elapsed, len(ctx.captured)


async def bench_kafka(bootstrap: str, count: int, flush_ms: int) -> tuple[float, float, float]:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    from marketdata.kafka.admin import ensure_topics  # noqa: PLC0415
    from marketdata.kafka.clients import make_producer  # noqa: PLC0415
    from tests.integration.processor_harness import worker, write_config  # noqa: PLC0415

    symbol = f"B{uuid.uuid4().hex[:6].upper()}/USD"
    batch = trades(count, symbol)
    codec = Codec()
    with tempfile.TemporaryDirectory() as tmp:
        await ensure_topics(bootstrap, replication_factor=1)
        producer = make_producer(bootstrap)
        await producer.start()
        for trade in batch:
            await producer.send(t.TRADES.name, codec.encode(trade), key=f"kraken:{symbol}".encode())
        await producer.stop()
        last_open = batch[-1].exchange_ts - batch[-1].exchange_ts % 60_000_000
        want = f"kraken:{symbol}:1m:{last_open}".encode()
        config = write_config(
            Path(tmp) / "config.yaml",
            bootstrap,
            f"bench-{symbol[:7].lower()}-v1",
            changelogFlushMs=flush_ms,
        )
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        tps = [TopicPartition(t.CANDLES.name, p) for p in range(t.CANDLES.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        started = time.perf_counter()
        first_output = None
        cpu_at_first = cpu_used = 0.0
        with worker(config, Path(tmp) / "worker.log") as w:
            while True:
                batch_out = await consumer.getmany(timeout_ms=200)
                if batch_out and first_output is None:
                    first_output = time.perf_counter()
                    cpu_at_first = cpu_seconds(w.process.pid if w.process else 0)
                done = False
                for messages in batch_out.values():
                    for m in messages:
                        if m.key == want and codec.decode(m.value).trades > 0:  # type: ignore[attr-defined]
                            record = codec.decode(m.value)
                            done = record.exchange_ts == batch[-1].exchange_ts  # type: ignore[attr-defined]
                if done:
                    cpu_used = cpu_seconds(w.process.pid if w.process else 0) - cpu_at_first
                    break
                if not w.alive():
                    raise RuntimeError(w.tail())
        elapsed = time.perf_counter() - started
        await consumer.stop()
        assert first_output is not None
        processing = time.perf_counter() - first_output
        return count / elapsed, count / processing, cpu_used / count * 1e6


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=20_000)
    parser.add_argument("--kafka", action="store_true", help="also through a real broker")
    parser.add_argument(
        "--changelog-flush-ms",
        type=int,
        nargs="+",
        default=[100],
        help="processors.changelogFlushMs of the real worker (several: one run each)",
    )
    args = parser.parse_args()
    batch = trades(args.trades)
    print(f"processor throughput, {args.trades} trades of one symbol, 6 timeframes, all indicators")
    print(f"  pure series logic:           {bench_pure(batch):>10,.0f} trades/s")
    rate, outputs = asyncio.run(bench_agent(batch))
    per_trade = outputs / len(batch)
    print(
        f"  faust agent (no broker):     {rate:>10,.0f} trades/s  ({per_trade:.2f} records/trade)"
    )
    if args.kafka:
        from marketdata.kafka.broker import broker  # noqa: PLC0415

        for flush_ms in args.changelog_flush_ms:  # a fresh broker each: a new worker reads all
            with tempfile.TemporaryDirectory() as tmp, broker(None, state_dir=Path(tmp)) as kafka:
                total, steady, cpu_us = asyncio.run(
                    bench_kafka(kafka.bootstrap, args.trades, flush_ms)
                )
                label = f"changelogFlushMs {flush_ms}:"
                print(
                    f"  real Kafka worker, {label:<22} {total:>7,.0f} trades/s incl. group join, "
                )
                print(
                    f"  {'':<41} {steady:>7,.0f} trades/s steady (from first output), "
                    f"worker CPU {cpu_us:,.0f} us/trade"
                )


if __name__ == "__main__":
    main()
