"""The only Kafka writer of the producers: Avro, keyed, sequenced, idempotent, and through a broker
outage without a restart (docs/producer.md, "When Kafka is unavailable").

Every event goes to its topic with the `exchange:symbol` key, the exchange's time as the Kafka
timestamp, and a per-key sequence number that starts at the process start time in microseconds
and grows by one per record: within a run a repeat proves duplication and a gap proves loss (by
fault, or by the shedding policy, which reports every record it sheds).

`publish()` only encodes and queues: the record waits in a bounded backlog (`producers.backlog`
says what gives way when it is full) and one sender task hands records to aiokafka in publish
order. A book delta whose key's previous delta is still waiting (not yet handed to aiokafka)
merges into it (`producers.core.bookdelta`), and a ticker (a full state) takes the place of its
key's waiting ticker, instead of queuing behind it: under load, when records queue anyway, a
burst becomes one record, with one sequence number; an idle publisher merges nothing and adds
no wait. A client that wedged is replaced (`producers.kafka_client` tells why and how); outages
are watched and reported by `producers.outage`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import msgspec
from aiokafka import errors as kafka_errors
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from marketdata.config import ProducerKafkaSettings
from marketdata.logs import get_logger
from producers.backlog import Admission, Backlog, Entry, Policy, Shed, State, policy_of
from producers.core import bookdelta
from producers.core.backoff import Backoff
from producers.kafka_client import (
    AlreadyWritten,
    Delivery,
    KafkaClient,
    ProducerFactory,
    classify,
    retried,
    start_client,
)
from producers.outage import BookResync, OutageListener, OutageWatch
from schemas.codec import Codec
from schemas.models import BookUpdate, PriceTicker, Record
from schemas.topics import TopicSpec

log = get_logger("producers.publish")

CLIENT_STOP_SECONDS: Final = 5.0


def _mergeable(record: Record) -> bool:
    """A book delta (merges exactly) or a ticker (a full state: the newer one replaces it)."""
    if isinstance(record, BookUpdate):
        return not record.is_snapshot
    return isinstance(record, PriceTicker)


class Publisher(Protocol):
    async def publish(
        self, topic: TopicSpec, key: str, record: Record, timestamp_us: int
    ) -> None: ...


class PublishMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"marketdata_producer_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"marketdata_producer_{name}", doc, registry=registry)

        self.accepted = counter(
            "accepted_records_total", "Records given to publish() and queued.", ("topic",)
        )
        self.merged = counter(
            "merged_records_total",
            "Records merged into their key's waiting record (book deltas, tickers): not queued.",
            ("topic",),
        )
        self.records = counter("published_records_total", "Records Kafka acknowledged.", ("topic",))
        self.failures = counter(
            "publish_failures_total", "Deliveries the Kafka client gave up on.", ("topic",)
        )
        self.latency = Histogram(
            "marketdata_producer_publish_latency_seconds",
            "From publish() to the broker's acknowledgement.",
            ["topic"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
        )
        self.shed = counter(
            "shed_records_total", "Records shed by the outage policy.", ("topic", "reason")
        )
        self.buffered_records = gauge("buffered_records", "Records not yet acknowledged.")
        self.buffered_bytes = gauge("buffered_bytes", "Memory held by them.")
        self.kafka_up = gauge("kafka_up", "0 while Kafka is unavailable to this producer.")
        self.kafka_up.set(1)
        self.outage_seconds = gauge("kafka_outage_seconds", "How long the current outage lasts.")
        self.outages = counter("kafka_outages_total", "Kafka outages seen.")
        self.client_restarts = counter(
            "kafka_client_restarts_total", "Kafka clients replaced after they wedged."
        )
        self.backpressure = counter(
            "backpressure_seconds_total", "Time publish() waited for room in a full backlog."
        )
        self._per_topic: dict[str, TopicMetrics] = {}

    def of(self, topic: str) -> TopicMetrics:
        """The per-record series of one topic (a `labels()` lookup costs more than the count)."""
        found = self._per_topic.get(topic)
        if found is None:
            found = self._per_topic[topic] = TopicMetrics(
                self.accepted.labels(topic),
                self.merged.labels(topic),
                self.records.labels(topic),
                self.latency.labels(topic),
            )
        return found


@dataclass(frozen=True, slots=True)
class TopicMetrics:
    accepted: Counter
    merged: Counter
    records: Counter
    latency: Histogram


class KafkaPublisher:
    def __init__(
        self,
        make_producer: ProducerFactory,
        codec: Codec,
        metrics: PublishMetrics,
        settings: ProducerKafkaSettings | None = None,
        *,
        already_written: AlreadyWritten | None = None,
        max_in_flight: int = 20_000,
        tick: float = 0.25,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = settings or ProducerKafkaSettings()
        self._make_producer = make_producer
        self._already_written = already_written
        self._acked: dict[tuple[str, int], int] = {}  # (topic, partition) → highest offset
        self._started_ms = clock() // 1000
        self._producer: KafkaClient | None = None
        self._codec = codec
        self._metrics = metrics
        self._settings = settings
        # At most half the bound sits in the client, where nothing can be shed any more.
        self._max_in_flight = max(1, min(max_in_flight, settings.buffer_max_records // 2))
        self._tick = tick
        self._clock = clock
        self._monotonic = monotonic
        self._backlog = Backlog(
            settings.buffer_max_records, int(settings.buffer_max_mb * 1024 * 1024), self._shed
        )
        self._order = itertools.count()
        # (topic, key) → its last mergeable record's entry (waiting or not)
        self._last: dict[tuple[str, str], Entry] = {}
        self._seq: dict[str, int] = {}
        self._seq_start = clock()
        self._wake = asyncio.Event()  # the sender has something to do
        self._room = asyncio.Event()  # the backlog shrank
        self._full = asyncio.Lock()  # facts waiting for room queue up in order
        self._waiters = 0
        self._failure: BaseException | None = None
        self._fatal = asyncio.Event()
        self._poisoned = False
        self._watch = OutageWatch(
            self._backlog,
            metrics,
            after_seconds=settings.outage_after_seconds,
            clock=clock,
            monotonic=monotonic,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.last_ack_at: float | None = None
        """Monotonic time of the last acknowledgement (health checks)."""

    # ---- wiring ---------------------------------------------------------------------------------

    def on_book_gap(self, resync: BookResync) -> None:
        """Book updates may be shed under pressure only once someone can resync the books."""
        self._watch.on_book_gap(resync)

    def on_outage_end(self, listener: OutageListener) -> None:
        self._watch.on_end(listener)

    async def start(self) -> None:
        """Start the client (a Kafka that does not answer now is fatal) and the sender."""
        producer = self._make_producer()
        await producer.start()
        self._producer = producer
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="publisher-sender"),
            asyncio.create_task(self._watch_loop(), name="publisher-watch"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)

    async def failed(self) -> None:
        """Return only by raising the fatal error, once there is one (for the runner to watch)."""
        await self._fatal.wait()
        assert self._failure is not None
        raise self._failure

    # ---- publishing -----------------------------------------------------------------------------

    def next_seq(self, key: str) -> int:
        seq = self._seq.get(key, self._seq_start) + 1
        self._seq[key] = seq
        return seq

    async def publish(self, topic: TopicSpec, key: str, record: Record, timestamp_us: int) -> None:
        if self._failure is not None:
            raise self._failure
        mergeable = self._settings.merge_while_waiting and _mergeable(record)
        if mergeable and self._merge(topic.name, key, record, timestamp_us):
            return
        seq = 0
        if "seq" in record.__struct_fields__:
            seq = self.next_seq(f"{topic.name}|{key}")
            record = msgspec.structs.replace(record, seq=seq)
        self._metrics.of(topic.name).accepted.inc()
        entry = Entry(
            order=next(self._order),
            topic=topic.name,
            key=key,
            value=self._codec.encode(record),
            timestamp_ms=timestamp_us // 1000,
            since=self._monotonic(),
            policy=policy_of(topic.name, books_repairable=self._watch.books_repairable),
            seq=seq,
        )
        if isinstance(record, BookUpdate):
            entry.snapshot, entry.symbol = record.is_snapshot, record.symbol
        if mergeable:
            entry.record = record
            self._last[(topic.name, key)] = entry
        elif isinstance(record, BookUpdate):  # a snapshot: the next delta starts anew
            self._last.pop((topic.name, key), None)
        if entry.policy is Policy.KEEP and self._waiters:
            await self._wait_for_room(entry)  # behind the facts already waiting, in order
        elif self._backlog.admit(entry) is Admission.FULL:
            await self._wait_for_room(entry)
        self._wake.set()

    def _merge(self, topic: str, key: str, record: Record, timestamp_us: int) -> bool:
        """Merge a record into its key's previous one if that still waits; True if merged."""
        last = self._last.get((topic, key))
        if last is None or last.record is None or last.state is not State.QUEUED:
            return False
        merged: Record
        if isinstance(record, BookUpdate):
            merged = bookdelta.merge(last.record, record)
        else:  # a full state: the newer one, in the older one's place
            merged = msgspec.structs.replace(record, seq=last.record.seq)
        self._backlog.revalue(last, self._codec.encode(merged))
        last.record = merged
        last.timestamp_ms = timestamp_us // 1000
        self._metrics.of(topic).merged.inc()
        return True

    async def _wait_for_room(self, entry: Entry) -> None:
        self._waiters += 1
        started = self._monotonic()
        if self._waiters == 1:
            log.warning(
                "kafka.backlog_full",
                topic=entry.topic,
                records=self._backlog.records,
                bytes=self._backlog.bytes,
            )
        try:
            async with self._full:
                while self._backlog.admit(entry) is Admission.FULL:
                    if self._failure is not None:
                        raise self._failure
                    self._room.clear()
                    await self._room.wait()
        finally:
            self._waiters -= 1
            waited = self._monotonic() - started
            self._metrics.backpressure.inc(waited)
            self._watch.waited(waited)

    def _shed(self, entry: Entry, reason: Shed) -> None:
        self._metrics.shed.labels(entry.topic, reason.value).inc()
        self._watch.shed(entry, reason)
        self._room.set()

    # ---- the sender -----------------------------------------------------------------------------

    def _may_send(self) -> bool:
        in_flight = self._backlog.in_flight
        if in_flight >= self._max_in_flight:
            return False
        # While Kafka is away, records wait here, where the policy can still act on them.
        return not (in_flight and self._watch.holding)

    async def _send_loop(self) -> None:
        while True:
            self._wake.clear()
            if self._poisoned:
                await self._replace_client()
                continue
            entry = self._backlog.next() if self._may_send() else None
            if entry is None:
                await self._wake.wait()
                continue
            await self._hand_over(entry)

    async def _hand_over(self, entry: Entry) -> None:
        assert self._producer is not None
        # From now on it may be in Kafka (even if it comes back as failed): it takes no merge.
        entry.record = None
        try:
            future = await self._producer.send(
                entry.topic, entry.value, key=entry.key.encode(), timestamp_ms=entry.timestamp_ms
            )
        except asyncio.CancelledError:
            self._backlog.unsend(entry)
            raise
        except kafka_errors.KafkaTimeoutError:
            self._backlog.unsend(entry)  # the partition's batch stayed full: Kafka is away
            return
        except kafka_errors.KafkaError as exc:
            self._failed(entry, exc, handed=False)
            return
        self._backlog.sent(entry)
        future.add_done_callback(functools.partial(self._delivered, entry))

    def _delivered(self, entry: Entry, future: asyncio.Future[Any]) -> None:
        self._wake.set()
        self._room.set()
        if future.cancelled():
            self._backlog.failed(entry)
            self._poison("delivery cancelled")
            return
        if (exc := future.exception()) is not None:
            self._failed(entry, exc, handed=True)
            return
        self._backlog.acked(entry)
        meta = future.result()  # RecordMetadata: where it was written
        if meta is not None:
            where = (entry.topic, meta.partition)
            self._acked[where] = max(self._acked.get(where, -1), meta.offset)
        now = self._monotonic()
        self.last_ack_at = now
        self._watch.acknowledged()
        per_topic = self._metrics.of(entry.topic)
        per_topic.records.inc()
        per_topic.latency.observe(now - entry.since)

    def _failed(self, entry: Entry, exc: BaseException, *, handed: bool) -> None:
        self._metrics.failures.labels(entry.topic).inc()
        match classify(exc):
            case Delivery.RESEND if handed:
                self._backlog.failed(entry)
                self._poison(repr(exc))
            case Delivery.RESEND:
                self._backlog.unsend(entry)
                self._poison(repr(exc))
            case Delivery.REJECTED:
                log.error(
                    "kafka.record_rejected", topic=entry.topic, key=entry.key, error=repr(exc)
                )
                self._backlog.rejected(entry)
            case Delivery.FATAL:
                log.error("kafka.delivery_failed", topic=entry.topic, error=repr(exc))
                if not handed:
                    self._backlog.unsend(entry)
                self._fail(exc)

    def _poison(self, reason: str) -> None:
        if not self._poisoned:
            log.warning("kafka.client_wedged", reason=reason, in_flight=self._backlog.in_flight)
        self._poisoned = True
        self._wake.set()

    async def _replace_client(self) -> None:
        """Let the old client settle, then send what it failed again with a fresh one."""
        while self._backlog.in_flight:
            self._wake.clear()
            await self._wake.wait()
        old, self._producer = self._producer, None
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.stop(), CLIENT_STOP_SECONDS)
        backoff = Backoff(self._settings.retry_backoff_ms / 1000, 2.0)  # soon after Kafka returns
        producer = await start_client(self._make_producer, backoff)
        written = 0
        if (failed := self._backlog.failed_entries) and (find := self._already_written):
            since_ms = self._started_ms - 60_000  # before this process published anything
            orders = await retried(lambda: find(failed, self._acked, since_ms))
            written = self._backlog.written(orders)
            for entry in failed:
                if entry.order in orders:
                    self._metrics.records.labels(entry.topic).inc()
        resent = self._backlog.requeue_failed()
        self._producer = producer
        self._poisoned = False
        self._metrics.client_restarts.inc()
        self._watch.client_restarted()
        log.warning("kafka.client_replaced", resent=resent, found_written=written)

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            await self.check()

    async def check(self) -> None:
        """Start, follow or end an outage (the watch task calls this every `tick`)."""
        await self._watch.check(settled=not self._poisoned)
        self._wake.set()

    # ---- ending ---------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
            self._fatal.set()
            self._room.set()  # wake whoever waits for room or a flush: they raise it

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("publisher.task_failed", task=task.get_name(), error=repr(exc))
            self._fail(exc)

    async def flush(self) -> None:
        """Wait until Kafka acknowledged everything published so far."""
        while self._backlog.records and self._failure is None:
            self._room.clear()
            await self._room.wait()
        if self._failure is not None:
            raise self._failure

    async def close(self) -> None:
        """Flush for at most `stopFlushSeconds`, then stop; what is left is logged as lost."""
        try:
            async with asyncio.timeout(self._settings.stop_flush_seconds):
                await self.flush()
        except TimeoutError:
            log.error(
                "kafka.unflushed_at_stop",
                records=self._backlog.records,
                bytes=self._backlog.bytes,
            )
        except Exception as exc:
            log.error("kafka.flush_failed", error=repr(exc))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), CLIENT_STOP_SECONDS)

    @property
    def in_flight(self) -> int:
        return self._backlog.in_flight

    @property
    def buffered(self) -> int:
        """Records published and not yet acknowledged."""
        return self._backlog.records

    @property
    def kafka_available(self) -> bool:
        return self._watch.current is None
