"""The latency floor of one Kafka hop on this machine, with nothing else running.

The end-to-end path (simulator -> producer -> Kafka -> [processor -> Kafka ->] API -> client) can be
no faster than its hops. This measures the hops alone, on a fresh local broker and loopback only:

1. loopback: an asyncio TCP echo round trip (the cheapest exchange two coroutines can have);
2. ack: `send_and_wait` of one small record with the pipeline's producer settings
   (idempotent, acks=all, linger 0), i.e. the producer's share of a hop;
3. hop: produce -> consume, the record's send time to a group-less consumer's receipt with the
   pipeline's consumer settings (read_committed, fetch wait `kafka.fetchMaxWaitMs`).

Records are paced at each given rate (one at a time, as events arrive from an exchange); prints
p50 / p90 / p99 / max in ms per case.

    .venv/bin/python bench/bench_kafka_floor.py [--rates 200 2000] [--seconds 10] [--jit tiered]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from marketdata.config import KafkaSettings
from marketdata.kafka.clients import make_consumer, make_producer
from marketdata.kafka.local import JitMode, LocalKafka
from marketdata.kafka.runtime import DEFAULT_VERSION, resolve

STAMP = struct.Struct(">q")


def summary(name: str, rate: int, samples_ns: list[int]) -> str:
    ms = sorted(s / 1e6 for s in samples_ns)
    q = statistics.quantiles(ms, n=100)
    return (
        f"{name:10} {rate:>7,} {len(ms):>8,} {q[49]:8.2f} {q[89]:8.2f} {q[98]:8.2f} {ms[-1]:8.2f}"
    )


async def paced(rate: int, seconds: float, one: Callable[[], Awaitable[None]]) -> None:
    """Call `one` at `rate` per second for `seconds`, never two at once, catching up if late."""
    period = 1.0 / rate
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await one()


async def loopback(rate: int, seconds: float) -> list[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(64):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    samples: list[int] = []

    async def one() -> None:
        t0 = time.perf_counter_ns()
        writer.write(STAMP.pack(t0))
        await reader.readexactly(STAMP.size)
        samples.append(time.perf_counter_ns() - t0)

    await paced(rate, seconds, one)
    writer.close()
    server.close()
    await server.wait_closed()
    return samples


async def ack_and_hop(bootstrap: str, rate: int, seconds: float) -> tuple[list[int], list[int]]:
    settings = KafkaSettings()
    topic = f"bench.floor.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = make_producer(bootstrap, settings, client_id="bench-floor")
    consumer = make_consumer(
        bootstrap,
        topic,
        client_id="bench-floor",
        from_beginning=True,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    await producer.start()
    await consumer.start()
    acks: list[int] = []
    hops: list[int] = []
    expected = int(rate * seconds)

    async def consume() -> None:
        async for record in consumer:
            hops.append(time.perf_counter_ns() - STAMP.unpack_from(cast(bytes, record.value))[0])
            if len(hops) == expected:
                return

    async def one() -> None:
        t0 = time.perf_counter_ns()
        await producer.send_and_wait(topic, STAMP.pack(t0) + bytes(120))
        acks.append(time.perf_counter_ns() - t0)

    try:
        # A first record end to end, so metadata and the consumer's position are settled.
        await producer.send_and_wait(topic, STAMP.pack(time.perf_counter_ns()))
        await anext(aiter(consumer))
        reader = asyncio.create_task(consume())
        await paced(rate, seconds, one)
        await asyncio.wait_for(reader, 30)
    finally:
        await consumer.stop()
        await producer.stop()
    return acks, hops


async def measure(bootstrap: str, rates: list[int], seconds: float) -> list[str]:
    rows: list[str] = []
    for rate in rates:
        rows.append(summary("loopback", rate, await loopback(rate, seconds)))
        acks, hops = await ack_and_hop(bootstrap, rate, seconds)
        rows.append(summary("ack", rate, acks))
        rows.append(summary("hop", rate, hops))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--jit", choices=["tiered", "quick"], default="tiered")
    args = parser.parse_args()
    runtime = resolve(DEFAULT_VERSION, None)
    jit = cast(JitMode, args.jit)
    with tempfile.TemporaryDirectory() as state, LocalKafka(runtime, Path(state), jit=jit) as kafka:
        rows = asyncio.run(measure(kafka.bootstrap, args.rates, args.seconds))
    print(f"One Kafka hop alone: Apache Kafka {DEFAULT_VERSION} ({args.jit} JIT), loopback")
    heads = ("rate/s", "records", "p50 ms", "p90 ms", "p99 ms", "max ms")
    print(f"{'case':10} " + " ".join(f"{h:>{7 if h == 'rate/s' else 8}}" for h in heads))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
