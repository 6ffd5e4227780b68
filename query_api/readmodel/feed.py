"""Feeds the read model from Kafka and pushes every change to the fan-out hub.

Group-less readers (no commits, no consumer group joined; `reader`): together they are assigned
every partition of the table topics and read them from the beginning, so any number of replicas
can run side by side. Tickers and trades are raw topics: only their newest records (`TAILS`, per
partition) are read, then everything that arrives; they move prices ahead of the price table
(`store`). Book updates are read from `book_lookback_ms` back (twice the producers'
`bookSnapshotMs`, so each changing book's last snapshot is in it): the model builds books from
them ahead of the book table. Within one fetched batch, a price or book changed several times is
pushed once, at its newest. The model is *ready* once every partition reached the end offset
seen at start (cache warming); until then the API answers 503. A record that does not decode is
counted and logged, never applied (the processors own the dead-letter topics).

Two readers, not one: every fetch request names each partition it asks for, so its cost grows
with the partitions fetched times the fetches a second. The busy topics (`BUSY` and the raw
ones: prices, books, candles, indicators, trades, tickers, book updates) fetch back to back
under load with `kafka.fetchMaxWaitMs`; the quiet ones (balances, positions, status, alerts,
control) wait `QUIET_FETCH_WAIT_MS` for a record, which the broker answers as soon as one
arrives, so a quiet record is not delayed, it only stops costing a fetch per busy record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from marketdata.logs import get_logger
from query_api.readmodel.reader import KafkaReader
from query_api.readmodel.store import TOPICS, ReadModel
from query_api.ws.fanout import CONFLATED, Update
from schemas import topics as t
from schemas.codec import Codec, DecodeError
from schemas.topics import TopicSpec

log = get_logger("query_api.feed")

TAILS: Final = ((t.TRADES, 200), (t.TICKER, 20))
"""Raw topics read from this many records before their end (per partition): recent trades for
`/api/trades`, and the tickers the price table may not have taken yet."""
BUSY: Final = frozenset(s.name for s in (t.PRICES, t.BOOKS, t.CANDLES, t.INDICATORS))
"""The table topics written many times a second (with the tails, the busy consumer's)."""
QUIET_FETCH_WAIT_MS: Final = 500


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
        book_lookback_ms: int = 0,
    ) -> None:
        """`book_lookback_ms` 0: md.book.v1 is not read, the book table serves every book."""
        self._bootstrap = bootstrap
        self._book_lookback_ms = book_lookback_ms
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._model = model
        self._publish = publish
        self._client_id = client_id
        self._codec = Codec()
        self.metrics = FeedMetrics.on(registry)
        self.progress = Progress()
        self._ready = asyncio.Event()
        self._behind: dict[int, int] = {}
        """Records each consumer still has to read before its start-up end offsets."""
        self._unassigned = 2
        """Consumers that have not yet seen their end offsets (ready waits for both)."""
        self._counted: dict[str, Counter] = {}

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
        busy = [s for s in TOPICS if s.name in BUSY]
        quiet = [s for s in TOPICS if s.name not in BUSY]
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read(busy, self._fetch_max_wait_ms, tails=True))
                group.create_task(self._read(quiet, QUIET_FETCH_WAIT_MS, tails=False))
        except ExceptionGroup as failed:  # one reader failed (the other was cancelled)
            exc = failed.exceptions[0]
            self.progress.error = repr(exc)
            log.error("feed.failed", error=repr(exc))
            raise exc from None

    async def _read(self, tables: list[TopicSpec], fetch_max_wait_ms: int, *, tails: bool) -> None:
        reader = KafkaReader(
            self._bootstrap,
            client_id=self._client_id,
            fetch_max_wait_ms=fetch_max_wait_ms,  # kafka.fetchMaxWaitMs: why, there
        )
        try:
            targets = await self._assign(reader, tables, tails=tails)
            async for batch in reader.batches():
                latest: dict[tuple[str, str], Update] = {}
                for message in batch:
                    topic = message.topic()
                    assert topic is not None
                    _, timestamp_ms = message.timestamp()
                    for update in self._apply(topic, message.value(), timestamp_ms):
                        if update.channel in CONFLATED:
                            latest[update.channel, update.key] = update
                        else:
                            self._publish(update)
                for update in self._model.flush_books():
                    latest[update.channel, update.key] = update
                if self.ready:
                    for update in latest.values():
                        self._publish(update)
                if targets:
                    self._caught_up(reader, targets)
        finally:
            await reader.close()

    async def _assign(
        self, reader: KafkaReader, specs: list[TopicSpec], *, tails: bool
    ) -> dict[TopicPartition, int]:
        """Assign from where each topic is read; the end offsets seen now that this reader must
        reach."""
        tables = [TopicPartition(s.name, p) for s in specs for p in range(s.partitions)]
        tail = (
            {
                TopicPartition(spec.name, p): count
                for spec, count in TAILS
                for p in range(spec.partitions)
            }
            if tails
            else {}
        )
        recent = (
            [TopicPartition(t.BOOK.name, p) for p in range(t.BOOK.partitions)]
            if tails and self._book_lookback_ms > 0
            else []
        )
        marks = await reader.watermarks(tables + list(tail) + recent)
        starts = {tp: first for tp, (first, _end) in marks.items()}
        for tp, count in tail.items():
            starts[tp] = max(starts[tp], marks[tp][1] - count)
        if recent:
            since_ms = int(time.time() * 1000) - self._book_lookback_ms
            found = await reader.offsets_for_time(recent, since_ms)
            for tp in recent:
                at = found[tp]
                starts[tp] = marks[tp][1] if at is None else at
        reader.assign(starts)
        targets = {tp: end for tp, (_first, end) in marks.items() if end > starts[tp]}
        self._behind[id(reader)] = sum(end - starts[tp] for tp, end in targets.items())
        self._unassigned -= 1
        self.progress.behind = sum(self._behind.values())
        log.info("feed.assigned", partitions=len(marks), records=self.progress.behind)
        if not targets:
            self._caught_up_once(reader)
        return targets

    def _caught_up(self, reader: KafkaReader, targets: dict[TopicPartition, int]) -> None:
        """Until this reader reached its start-up end offsets: how far behind it is."""
        behind = 0
        positions = reader.positions
        for tp, end in list(targets.items()):
            left = max(0, end - positions[tp])
            if left == 0:
                del targets[tp]  # reached once: the start-up target is met for good
            behind += left
        self._behind[id(reader)] = behind
        if not targets:
            self._caught_up_once(reader)
        self.progress.behind = sum(self._behind.values())

    def _caught_up_once(self, reader: KafkaReader) -> None:
        self._behind[id(reader)] = 0
        if self.ready or self._unassigned or any(self._behind.values()):
            return
        self.progress.behind = 0
        self.progress.ready_at = time.time()
        self._ready.set()
        self.metrics.ready.set(1)
        log.info(
            "feed.ready",
            records=self.progress.applied,
            seconds=round(self.progress.ready_at - self.progress.started, 2),
        )

    def _apply(self, topic: str, value: bytes | None, timestamp_ms: int) -> list[Update]:
        """Apply one record; the updates to push (none until the model is ready)."""
        if value is None:
            return []  # a tombstone: nothing in our tables deletes yet
        try:
            record = self._codec.decode(value, topic=topic)
        except DecodeError as exc:
            self.metrics.undecodable.labels(topic).inc()
            log.warning("record.undecodable", topic=topic, error=str(exc)[:200])
            return []
        updates = self._model.apply(topic, record)
        now = time.time()
        self.progress.applied += 1
        self.progress.last_record_at = now
        counter = self._counted.get(topic)
        if counter is None:  # a labels() lookup per record costs more than the increment
            counter = self._counted[topic] = self.metrics.records.labels(topic)
        counter.inc()
        self.metrics.lag_seconds.set(max(0.0, now - timestamp_ms / 1000))
        return updates if self.ready else []
