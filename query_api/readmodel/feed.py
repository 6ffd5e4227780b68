"""Feeds the read model from Kafka and pushes every change to the fan-out hub.

One group-less consumer per API process (no commits, no consumer group): it is assigned every
partition of the table topics and reads them from the beginning, so any number of replicas can
run side by side. Trades are a raw topic: only the newest `TRADE_TAIL` per partition are read.
The model is *ready* once every partition reached the end offset seen at start (cache warming);
until then the API answers 503. A record that does not decode is counted and logged, never
applied (the processors own the dead-letter topics).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from marketdata.logs import get_logger
from query_api.readmodel.store import TOPICS, ReadModel
from query_api.ws.fanout import Update
from schemas import topics as t
from schemas.codec import Codec, DecodeError

log = get_logger("query_api.feed")

TRADE_TAIL: Final = 200


@dataclass(frozen=True, slots=True)
class FeedMetrics:
    records: Counter
    undecodable: Counter
    ready: Gauge
    lag_seconds: Gauge

    @classmethod
    def on(cls, registry: CollectorRegistry) -> FeedMetrics:
        return cls(
            records=Counter(
                "marketdata_api_records_total",
                "Records applied to the read model.",
                ["topic"],
                registry=registry,
            ),
            undecodable=Counter(
                "marketdata_api_undecodable_total",
                "Records that did not decode.",
                ["topic"],
                registry=registry,
            ),
            ready=Gauge(
                "marketdata_api_ready", "1 once the read model caught up.", registry=registry
            ),
            lag_seconds=Gauge(
                "marketdata_api_feed_lag_seconds",
                "Age of the newest record applied (Kafka timestamp to now).",
                registry=registry,
            ),
        )


@dataclass(slots=True)
class Progress:
    """What /health reports: progress, not only that the process runs."""

    started: float = field(default_factory=time.time)
    ready_at: float | None = None
    last_record_at: float | None = None
    applied: int = 0
    behind: int = 0  # records still to read before the start-up end offsets
    error: str | None = None


class Feed:
    def __init__(
        self,
        bootstrap: str,
        model: ReadModel,
        publish: Callable[[Update], object],
        registry: CollectorRegistry,
        *,
        client_id: str = "marketdata-api",
        fetch_max_wait_ms: int = 10,
    ) -> None:
        self._bootstrap = bootstrap
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._model = model
        self._publish = publish
        self._client_id = client_id
        self._codec = Codec()
        self.metrics = FeedMetrics.on(registry)
        self.progress = Progress()
        self._ready = asyncio.Event()
        self._targets: dict[TopicPartition, int] = {}

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Read until cancelled; reconnects are aiokafka's job, a fatal error ends the task."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,  # kafka.fetchMaxWaitMs: why, there
        )
        await consumer.start()
        try:
            await self._assign(consumer)
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, messages in batch.items():
                    for message in messages:
                        self._apply(tp.topic, message.value, message.timestamp)
                await self._check_ready(consumer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.progress.error = repr(exc)
            log.error("feed.failed", error=repr(exc))
            raise
        finally:
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        tables = [TopicPartition(s.name, p) for s in TOPICS for p in range(s.partitions)]
        trades = [TopicPartition(t.TRADES.name, p) for p in range(t.TRADES.partitions)]
        consumer.assign(tables + trades)
        ends = await consumer.end_offsets(tables + trades)
        starts = await consumer.beginning_offsets(trades)
        await consumer.seek_to_beginning(*tables)
        for tp in trades:
            consumer.seek(tp, max(starts[tp], ends[tp] - TRADE_TAIL))
        self._targets = {tp: end for tp, end in ends.items() if end > 0}
        self.progress.behind = sum(self._targets.values())
        log.info("feed.assigned", partitions=len(tables + trades), records=self.progress.behind)

    def _apply(self, topic: str, value: bytes | None, timestamp_ms: int) -> None:
        if value is None:
            return  # a tombstone: nothing in our tables deletes yet
        try:
            record = self._codec.decode(value, topic=topic)
        except DecodeError as exc:
            self.metrics.undecodable.labels(topic).inc()
            log.warning("record.undecodable", topic=topic, error=str(exc)[:200])
            return
        update = self._model.apply(topic, record)
        self.progress.applied += 1
        self.progress.last_record_at = time.time()
        self.metrics.records.labels(topic).inc()
        self.metrics.lag_seconds.set(max(0.0, time.time() - timestamp_ms / 1000))
        if update is not None and self.ready:
            self._publish(update)

    async def _check_ready(self, consumer: AIOKafkaConsumer) -> None:
        if self.ready:
            return
        behind = 0
        for tp, end in self._targets.items():
            behind += max(0, end - await consumer.position(tp))
        self.progress.behind = behind
        if behind == 0:
            self.progress.ready_at = time.time()
            self._ready.set()
            self.metrics.ready.set(1)
            log.info(
                "feed.ready",
                records=self.progress.applied,
                seconds=round(self.progress.ready_at - self.progress.started, 2),
            )
