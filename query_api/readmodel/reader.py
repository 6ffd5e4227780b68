"""A Kafka reader for the API's feed: librdkafka (confluent-kafka) in a thread of its own.

The feed's consumers fetch without pause under load, and aiokafka builds and parses every fetch
request and response in Python: reading the API's busy topics at 2,000 events/s took it a fifth
of a core, librdkafka a twenty-fifth (docs/benchmarks.md). librdkafka fetches in its own threads;
`poll` waits in C with the GIL released, so here one thread takes the records in batches (it
waits for the first, then takes whatever else is already queued) and hands them to the event
loop, at most `AHEAD` batches ahead of it (memory stays bounded by `queued.max.messages.kbytes`
when the loop falls behind).

Partitions are assigned, never subscribed: no consumer group is joined and nothing is committed.
librdkafka wants a `group.id` all the same; it is only a name here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Final

from aiokafka import TopicPartition
from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as ConfluentPartition
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from marketdata.logs import get_logger

log = get_logger("query_api.reader")

MAX_BATCH: Final = 5000
POLL_SECONDS: Final = 0.1
"""How long the thread waits in `consume` before it checks whether it should stop."""
TIMEOUT_SECONDS: Final = 30.0
"""Metadata calls (watermarks, offsets for times), retries included."""

AHEAD: Final = 2
"""Batches handed to the loop and not yet taken, at most."""
Batch = list[Message] | BaseException
"""What the thread hands over: records, or the error that ended it."""


_PASSING: Final = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,  # librdkafka spells its own codes with a leading underscore
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._UNKNOWN_PARTITION,
    }
)
"""Errors of a broker starting or a topic just created (librdkafka marks few of them
retriable)."""


def _retriable(exc: BaseException) -> bool:
    """A leader not known yet (a topic just created, a broker starting) or moving: asked again."""
    if not isinstance(exc, KafkaException):
        return False
    error = exc.args[0]
    return bool(error.retriable()) or error.code() in _PASSING


_metadata = retry(
    retry=retry_if_exception(_retriable),
    wait=wait_random_exponential(multiplier=0.05, max=1.0),
    stop=stop_after_delay(TIMEOUT_SECONDS),
    reraise=True,
)


class KafkaReader:
    def __init__(self, bootstrap: str, *, client_id: str, fetch_max_wait_ms: int) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                "group.id": f"{client_id}-assign-only",  # never joined: partitions are assigned
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": fetch_max_wait_ms,
                "fetch.queue.backoff.ms": 20,  # while warming the local queue can fill: resume soon
                "queued.max.messages.kbytes": 32768,
                "socket.nagle.disable": True,
                "logger": logging.getLogger("query_api.librdkafka"),
            }
        )
        self.positions: dict[TopicPartition, int] = {}
        """The next offset to read, per assigned partition (advanced as batches are taken)."""
        self._ready: deque[Batch] = deque()
        self._arrival = asyncio.Event()
        self._room = threading.Semaphore(AHEAD)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def watermarks(self, tps: list[TopicPartition]) -> dict[TopicPartition, tuple[int, int]]:
        """(first, end) offsets per partition."""

        @_metadata
        def get() -> dict[TopicPartition, tuple[int, int]]:
            return {
                tp: self._consumer.get_watermark_offsets(
                    ConfluentPartition(tp.topic, tp.partition), timeout=TIMEOUT_SECONDS
                )
                for tp in tps
            }

        return await asyncio.to_thread(get)

    async def offsets_for_time(
        self, tps: list[TopicPartition], timestamp_ms: int
    ) -> dict[TopicPartition, int | None]:
        """The first offset stamped at or after `timestamp_ms` per partition (None: none is)."""

        @_metadata
        def get() -> list[ConfluentPartition]:
            return self._consumer.offsets_for_times(
                [ConfluentPartition(tp.topic, tp.partition, timestamp_ms) for tp in tps],
                timeout=TIMEOUT_SECONDS,
            )

        found = await asyncio.to_thread(get)
        return {
            TopicPartition(f.topic, f.partition): (f.offset if f.offset >= 0 else None)
            for f in found
        }

    def assign(self, starts: dict[TopicPartition, int]) -> None:
        """Read these partitions from these offsets."""
        self._consumer.assign(
            [ConfluentPartition(tp.topic, tp.partition, offset) for tp, offset in starts.items()]
        )
        self.positions = dict(starts)

    async def batches(self) -> AsyncIterator[list[Message]]:
        """The records as they arrive, in batches (each partition in offset order)."""
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._poll, args=(loop,), name="kafka-reader", daemon=True
        )
        self._thread.start()
        positions = self.positions
        ready, arrival, room = self._ready, self._arrival, self._room
        while True:
            while not ready:
                arrival.clear()
                await arrival.wait()
            batch = ready.popleft()
            room.release()
            if isinstance(batch, BaseException):
                raise batch
            for message in batch:
                positions[TopicPartition(message.topic(), message.partition())] = (
                    message.offset() + 1  # type: ignore[operator]
                )
            yield batch

    def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while not self._stop.is_set():
                # `consume` waits for MAX_BATCH records or the timeout, whichever is last: wait
                # for the first record alone, then take what else is already queued.
                first = self._consumer.poll(POLL_SECONDS)
                if first is None:
                    continue
                messages = [first, *self._consumer.consume(MAX_BATCH - 1, 0)]
                good = [m for m in messages if m.error() is None]
                for m in messages:
                    if (error := m.error()) is not None:
                        self._on_error(error)
                if good:
                    self._hand_over(loop, good)
        except BaseException as exc:
            if not self._stop.is_set():
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
                    self._hand_over(loop, exc)

    def _hand_over(self, loop: asyncio.AbstractEventLoop, item: Batch) -> None:
        """Queue `item` for the loop once fewer than `AHEAD` wait there (until stopped). A
        callback, not a coroutine: no task per batch."""
        while not self._room.acquire(timeout=POLL_SECONDS):
            if self._stop.is_set():
                return
        loop.call_soon_threadsafe(self._arrived, item)

    def _arrived(self, item: Batch) -> None:
        self._ready.append(item)
        self._arrival.set()

    @staticmethod
    def _on_error(error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        log.warning("kafka.consume_error", error=str(error))  # transient: librdkafka retries

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        await asyncio.to_thread(self._consumer.close)
