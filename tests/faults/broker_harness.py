"""Broker faults under a running producer: a Kafka cluster of the test's own (never the session
broker: its nodes get killed), the simulator → producer pipeline on it, and what the topics hold
afterwards, checked per key by sequence number."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry

from marketdata.config import MarketData, Settings
from marketdata.kafka.local import LocalKafka, status
from marketdata.kafka.probe import wait_for_brokers
from marketdata.kafka.runtime import DEFAULT_VERSION, resolve
from producers.exchanges.kraken.adapter import kraken_adapter_factory
from producers.runner import run_producer
from schemas import topics
from schemas.codec import Codec
from schemas.models import Record
from simulator.server import SimulatorHandle
from tests.contract.producer.producer_harness import settings_for

PRODUCED = (
    topics.TICKER,
    topics.TRADES,
    topics.BOOK,
    topics.OHLC,
    topics.BALANCES,
    topics.STATUS,
    topics.RAW,
)
FACTS = (topics.TRADES, topics.OHLC, topics.BALANCES, topics.STATUS)


@contextlib.asynccontextmanager
async def own_cluster(state_dir: Path, nodes: int) -> AsyncIterator[LocalKafka]:
    runtime = await asyncio.to_thread(resolve, DEFAULT_VERSION, None)
    cluster = LocalKafka(runtime, state_dir, nodes=nodes, heap_mb=384)
    await asyncio.to_thread(cluster.start)
    try:
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)


async def wait_stopped(cluster: LocalKafka, node_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while status(cluster.state_dir)[1].get(node_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"node {node_id} did not stop within {timeout} s")
        await asyncio.sleep(0.1)


async def restart(cluster: LocalKafka, node_id: int, nodes: int) -> None:
    cluster.restart_node(node_id)
    await asyncio.to_thread(
        wait_for_brokers, cluster.bootstrap, nodes, deadline=time.monotonic() + 60
    )


@dataclass
class ProducerRun:
    task: asyncio.Task[None]
    stop: asyncio.Event
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def per_topic(self, name: str) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name:
                    out[sample.labels["topic"]] += sample.value
        return out


@contextlib.asynccontextmanager
async def producing(
    bootstrap: str,
    sim: SimulatorHandle,
    exchange_overrides: dict[str, object] | None = None,
    **kafka: object,
) -> AsyncIterator[ProducerRun]:
    """`run_producer` as `marketdata producer` runs it, stopped (and flushed) on exit. One OHLC
    interval: the start-up backfill (720 candles per symbol and interval) stays a small burst."""
    exchange = settings_for(sim, ohlc_intervals=[1], **(exchange_overrides or {}))
    settings = Settings(
        MarketData.model_validate({"exchanges": {"kraken": exchange.model_dump()}, "kafka": kafka})
    )
    stop, registry = asyncio.Event(), CollectorRegistry()
    task = asyncio.create_task(
        run_producer(
            settings, "kraken", bootstrap, registry, kraken_adapter_factory(exchange), stop
        )
    )
    run = ProducerRun(task, stop, registry)
    try:
        yield run
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def partitions_led(bootstrap: str, names: list[str]) -> dict[int, list[str]]:
    """Node id → the `topic/partition`s it leads, as the cluster's metadata says."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        led: dict[int, list[str]] = defaultdict(list)
        for topic in await admin.describe_topics(names):
            for p in topic["partitions"]:
                led[int(p["leader"])].append(f"{topic['topic']}/{p['partition']}")
        return dict(led)
    finally:
        await admin.close()


async def read_all(
    bootstrap: str, specs: tuple[topics.TopicSpec, ...], timeout: float = 60
) -> dict[str, list[Record]]:
    """Every record of these topics, per topic in partition order (a key's records in order)."""
    codec = Codec()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    out: dict[str, list[Record]] = defaultdict(list)
    try:
        tps = [TopicPartition(s.name, p) for s in specs for p in range(s.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, messages in batch.items():
                out[tp.topic] += [codec.decode(m.value, topic=tp.topic) for m in messages]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        assert not remaining, f"could not read to the end of {sorted(map(str, remaining))}"
    finally:
        await consumer.stop()
    return out


def key_of(topic: str, record: Record) -> str:
    if topic == topics.RAW.name:
        return str(record.connection_id)  # type: ignore[attr-defined]
    if topic == topics.BALANCES.name:
        return str(record.asset)  # type: ignore[attr-defined]
    if topic == topics.STATUS.name:
        return str(record.exchange)  # type: ignore[attr-defined]
    return str(record.symbol)  # type: ignore[attr-defined]


@dataclass
class Sequences:
    """One topic's records per key: repeats or reorderings, and how many are missing between."""

    by_key: dict[str, list[Record]]

    @classmethod
    def of(cls, topic: str, records: list[Record]) -> Sequences:
        by_key: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            by_key[key_of(topic, record)].append(record)
        return cls(dict(by_key))

    def not_increasing(self) -> list[str]:
        return [
            key
            for key, records in self.by_key.items()
            if any(b.seq <= a.seq for a, b in itertools.pairwise(records))  # type: ignore[attr-defined]
        ]

    def gaps(self) -> dict[str, list[int]]:
        """Per key, the index of each record that follows a gap."""
        out: dict[str, list[int]] = {}
        for key, records in self.by_key.items():
            seqs = [r.seq for r in records]  # type: ignore[attr-defined]
            at = [i for i in range(1, len(seqs)) if seqs[i] != seqs[i - 1] + 1]
            if at:
                out[key] = at
        return out

    def missing(self) -> int:
        total = 0
        for records in self.by_key.values():
            seqs = [r.seq for r in records]  # type: ignore[attr-defined]
            total += seqs[-1] - seqs[0] + 1 - len(seqs)
        return total

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_key.values())
