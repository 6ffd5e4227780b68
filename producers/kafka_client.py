"""The aiokafka client the publisher drives: how it is made, and what its failures mean.

How aiokafka 0.14 (idempotent, `acks=all`) behaves when brokers go away, and what is done about it:
- Records whose partition leader is known are retried until delivered: with idempotence the client
  never expires them (connection refused, timeouts and NotLeader answers are all retriable, with
  `retry_backoff_ms` between tries and a metadata refresh after each). A partition's full batch
  makes `send()` wait up to `request_timeout_ms` and then raise KafkaTimeoutError: the sender
  gives the record back to the backlog and tries again.
- The broker keeps each producer id's last sequence numbers with the log (snapshotted), so a
  broker that restarts on its data, or a follower that takes over as leader, continues the
  sequence: a retried batch that was in fact written answers DuplicateSequenceNumber, which the
  client counts as delivered. A broker restart, kill -9 included, costs no record and no repeat.
- A batch whose partition has *no* leader in the client's metadata (a controlled shutdown of the
  last replica publishes leader -1) for longer than `request_timeout_ms` fails with
  LeaderNotAvailable / NotLeaderForPartition. Its sequence numbers were spent, so when the broker
  is back every later batch of that partition fails with OutOfOrderSequenceNumber: the client is
  wedged for good. UnknownProducerId (the broker no longer knows the producer id, e.g. all its
  records were deleted by retention) ends the same way. The publisher lets the old client settle,
  starts a fresh one (a new producer id, sequences from zero) and sends the failed records again
  first, in their original order (measured: a 12 s SIGTERM outage with a 4 s request timeout
  wedged a plain client, which then failed every record of the partition until restarted).
- But "failed" does not always mean "not written": a batch the broker wrote whose acknowledgement
  was lost (the broker went down after the write) is retried, and if its leader then stays
  unknown it expires like one never sent. So before anything is sent again, `already_written`
  reads the partitions' tails (from the last acknowledged offset) and the records found there,
  by topic, key and sequence number, count as delivered; only the rest go again (measured: a
  SIGTERM outage produced exactly such a batch of book updates, which a blind resend doubled).
- A record Kafka refuses as such (too large, corrupt) is shed and reported; any other failure is
  fatal (raised from `publish`, so the supervisor restarts the producer).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors

from marketdata.config import KafkaSettings
from marketdata.kafka.clients import producer_options
from marketdata.logs import get_logger
from producers.backlog import Entry
from producers.core.backoff import Backoff
from schemas.codec import Codec, DecodeError
from schemas.topics import by_name


class KafkaClient(Protocol):
    """The part of `AIOKafkaProducer` the publisher uses (the seam its tests stand in at)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self, topic: str, value: bytes, *, key: bytes, timestamp_ms: int
    ) -> asyncio.Future[Any]: ...


ProducerFactory = Callable[[], KafkaClient]
log = get_logger("producers.kafka_client")
Offsets = Mapping[tuple[str, int], int]
"""(topic, partition) → the highest offset acknowledged so far."""
AlreadyWritten = Callable[[Sequence[Entry], Offsets, int], Awaitable[set[int]]]
"""(failed entries, acknowledged offsets, a wall time in ms before any of them was published)
→ the `order` of each entry already in Kafka."""


class Delivery(Enum):
    RESEND = "resend"  # send again with a fresh client (unless Kafka holds it after all)
    REJECTED = "rejected"  # Kafka refuses the record itself
    FATAL = "fatal"


_REJECTED: Final = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.CorruptRecordException,
    kafka_errors.InvalidTimestampError,
)
_CLIENT_STATE: Final = (
    kafka_errors.OutOfOrderSequenceNumber,
    kafka_errors.UnknownProducerId,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.InvalidProducerIdMapping,
    kafka_errors.ProducerFenced,
    kafka_errors.KafkaTimeoutError,
)


def classify(exc: BaseException) -> Delivery:
    """What a delivery failure means; retriability is the error's own attribute (aiokafka's)."""
    if isinstance(exc, _REJECTED):
        return Delivery.REJECTED
    if isinstance(exc, _CLIENT_STATE) or getattr(exc, "retriable", False):
        return Delivery.RESEND
    return Delivery.FATAL


def kafka_producer_factory(bootstrap: str, kafka: KafkaSettings, client_id: str) -> ProducerFactory:
    def make() -> KafkaClient:
        options = producer_options(kafka) | {
            "request_timeout_ms": kafka.producer.request_timeout_ms,
            "retry_backoff_ms": kafka.producer.retry_backoff_ms,
        }
        client: KafkaClient = AIOKafkaProducer(
            bootstrap_servers=bootstrap, client_id=client_id, **options
        )
        return client

    return make


async def start_client(make: ProducerFactory, backoff: Backoff) -> KafkaClient:
    """A fresh client, started once Kafka answers (tried again after each back-off delay)."""
    while True:
        client = make()
        try:
            await client.start()
        except kafka_errors.KafkaError as exc:
            with contextlib.suppress(Exception):
                await client.stop()
            delay = backoff.next_delay()
            log.warning("kafka.client_start_failed", error=repr(exc), retry_in=round(delay, 2))
            await asyncio.sleep(delay)
        else:
            return client


async def retried[T](call: Callable[[], Awaitable[T]], backoff: Backoff | None = None) -> T:
    """`call()` until it does not fail for want of Kafka."""
    backoff = backoff or Backoff(0.1, 2.0)
    while True:
        try:
            return await call()
        except (kafka_errors.KafkaError, OSError) as exc:
            delay = backoff.next_delay()
            log.warning("kafka.call_failed", error=repr(exc), retry_in=round(delay, 2))
            await asyncio.sleep(delay)


def kafka_already_written(bootstrap: str, client_id: str) -> AlreadyWritten:
    codec = Codec()

    async def already_written(entries: Sequence[Entry], acked: Offsets, since_ms: int) -> set[int]:
        wanted = {(e.topic, e.key, e.seq): e.order for e in entries if e.seq}
        if not wanted:
            return set()
        tps = [
            TopicPartition(topic, p)
            for topic in {e.topic for e in entries}
            for p in range(by_name(topic).partitions)
        ]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, client_id=client_id, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            unknown = [tp for tp in tps if (tp.topic, tp.partition) not in acked]
            times = await consumer.offsets_for_times(dict.fromkeys(unknown, since_ms))
            for tp in tps:
                if (tp.topic, tp.partition) in acked:
                    consumer.seek(tp, acked[(tp.topic, tp.partition)] + 1)
                else:
                    found = times.get(tp)
                    consumer.seek(tp, found.offset if found is not None else ends[tp])
            found_orders: set[int] = set()
            remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
                for tp, messages in batch.items():
                    for m in messages:
                        if m.key is None or m.value is None:
                            continue
                        try:
                            seq = getattr(codec.decode(m.value, topic=tp.topic), "seq", 0)
                        except DecodeError:
                            continue  # not ours to judge: only our own records are looked for
                        order = wanted.get((tp.topic, m.key.decode(errors="replace"), seq))
                        if order is not None:
                            found_orders.add(order)
                remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
            return found_orders
        finally:
            await consumer.stop()

    return already_written
