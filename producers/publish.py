"""The only Kafka writer of the producers: Avro, keyed, sequenced, idempotent, bounded.

Every event goes to its topic with the `exchange:symbol` key, the exchange's time as the Kafka
timestamp, and a per-key sequence number. Sequence numbers start at the process start time in
microseconds and grow by one per record and key, so within a run they are gap-free and across
restarts they only move forward: a consumer that sees a repeat or a gap inside a run has proof of
duplication or loss. In-flight records are bounded: when the broker is slow or away, `publish`
waits (back-pressure reaches the exchange reader) instead of buffering without limit. A delivery
that fails after the client's own retries is counted, logged at ERROR and raised: nothing is
dropped silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import msgspec
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, Counter, Histogram

from marketdata.logs import get_logger
from schemas.codec import Codec
from schemas.models import Record
from schemas.topics import TopicSpec

log = get_logger("producers.publish")


class Publisher(Protocol):
    async def publish(
        self, topic: TopicSpec, key: str, record: Record, timestamp_us: int
    ) -> None: ...


class PublishMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "marketdata_producer_published_records_total",
            "Records handed to Kafka.",
            ["topic"],
            registry=registry,
        )
        self.failures = Counter(
            "marketdata_producer_publish_failures_total",
            "Deliveries that failed after retries.",
            ["topic"],
            registry=registry,
        )
        self.latency = Histogram(
            "marketdata_producer_publish_latency_seconds",
            "From publish() to the broker's acknowledgement.",
            ["topic"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


class KafkaPublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        codec: Codec,
        metrics: PublishMetrics,
        *,
        max_in_flight: int = 20_000,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._producer = producer
        self._codec = codec
        self._metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)
        self._seq: dict[str, int] = {}
        self._seq_start = clock()
        self._failure: BaseException | None = None
        self._pending: set[asyncio.Future[object]] = set()

    def next_seq(self, key: str) -> int:
        seq = self._seq.get(key, self._seq_start) + 1
        self._seq[key] = seq
        return seq

    async def publish(self, topic: TopicSpec, key: str, record: Record, timestamp_us: int) -> None:
        if self._failure is not None:
            raise self._failure
        if "seq" in record.__struct_fields__:
            record = msgspec.structs.replace(record, seq=self.next_seq(f"{topic.name}|{key}"))
        value = self._codec.encode(record)
        await self._slots.acquire()
        started = time.perf_counter()
        try:
            future = await self._producer.send(
                topic.name,
                value,
                key=key.encode(),
                timestamp_ms=timestamp_us // 1000,
            )
        except BaseException:
            self._slots.release()
            raise
        self._pending.add(future)
        future.add_done_callback(lambda f: self._delivered(f, topic.name, started))

    def _delivered(self, future: asyncio.Future[object], topic: str, started: float) -> None:
        self._pending.discard(future)
        self._slots.release()
        if future.cancelled():
            return
        if (exc := future.exception()) is not None:
            self._metrics.failures.labels(topic).inc()
            log.error("kafka.delivery_failed", topic=topic, error=repr(exc))
            self._failure = exc
            return
        self._metrics.records.labels(topic).inc()
        self._metrics.latency.labels(topic).observe(time.perf_counter() - started)

    async def flush(self) -> None:
        await self._producer.flush()
        if self._failure is not None:
            raise self._failure

    @property
    def in_flight(self) -> int:
        return len(self._pending)
