"""What every agent shares: the faust app, topics, codec, metrics, and the two ways a record ends.

- A record that does not decode goes to `<topic>.dlq` with the reason, is counted and logged,
  and the agent goes on with the next one.
- Anything unexpected is fatal: the agent logs it and the worker exits at once without committing,
  so the supervisor restarts it and the record is processed again (never acknowledged and lost).
- A record is acknowledged (so its offset may be committed) only once the table writes it made
  are on their way to the changelogs (`processors.tables.WriteBehind`).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import faust
from faust.types import EventT, StreamT
from faust.types.tuples import FutureMessage
from prometheus_client import Counter, Histogram

from marketdata.config import Settings
from marketdata.logs import get_logger
from processors.metrics import ProcessorMetrics
from processors.tables import WriteBehind
from schemas import topics as t
from schemas.codec import Codec, DecodeError
from schemas.models import DeadLetter, Record
from schemas.topics import TopicSpec

log = get_logger("processors")

EXIT_FATAL = 70  # EX_SOFTWARE


def now_us() -> int:
    return time.time_ns() // 1000


def _exit_process(agent: str, exc: BaseException) -> NoReturn:
    log.critical("agent.crashed", agent=agent, error=repr(exc), exc_info=exc)
    os._exit(EXIT_FATAL)  # no commit, no flush: the uncommitted records are processed again


@dataclass(slots=True)
class Context:
    """Built once per worker by `create_app`; agents close over it."""

    settings: Settings
    app: faust.App
    codec: Codec
    metrics: ProcessorMetrics
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    on_fatal: Callable[[str, BaseException], NoReturn] = _exit_process
    captured: list[tuple[str, bytes | None, bytes]] | None = None
    """When a list (tests on faust's in-memory test context): what would be sent to Kafka."""
    on_rebalance: list[Callable[[], None]] = field(default_factory=list)
    """Called when partitions are revoked: decoded caches may no longer be ours."""
    writes: WriteBehind = field(default_factory=lambda: WriteBehind(0.0))
    """Every table's batched writes, and the records waiting for them to be acknowledged."""
    _observers: dict[str, tuple[Counter, Histogram]] = field(default_factory=dict)
    """Each agent's event counter and lag histogram (a `labels()` lookup per record costs more
    than the observation)."""

    def topic(self, spec: TopicSpec) -> faust.TopicT:
        """The faust topic of a contract topic (raw bytes in and out: the codec is ours)."""
        topic = self.topics.get(spec.name)
        if topic is None:
            topic = self.topics[spec.name] = self.app.topic(
                spec.name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=spec.partitions,
            )
        return topic

    def internal(self, name: str, partitions: int = 3) -> faust.TopicT:
        """A topic of this app only (re-keying), named after the app id."""
        full = f"{self.app.conf.id}-{name}"
        topic = self.topics.get(full)
        if topic is None:
            topic = self.topics[full] = self.app.topic(
                full,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=partitions,
                internal=True,
            )
        return topic

    async def decode[R: Record](self, event: EventT[Any], cls: type[R]) -> R | None:
        """The event's record, or None after sending it to the topic's DLQ."""
        message = event.message
        value = event.value
        try:
            return self.codec.decode_as(
                value if isinstance(value, bytes) else b"",
                cls,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
        except DecodeError as exc:
            await self.dead_letter(event, exc)
            return None

    async def consume[R: Record](
        self,
        stream: StreamT[bytes],
        cls: type[R],
        agent: str,
        handle: Callable[[R, int], Awaitable[None]],
    ) -> None:
        """An agent's loop: decode each record (or dead-letter it) and hand it, with its
        offset, to `handle`; anything `handle` raises is fatal."""
        async for event in self.events(stream):
            record = await self.decode(event, cls)
            if record is None:
                continue
            try:
                await handle(record, event.message.offset)
            except Exception as exc:
                self.on_fatal(agent, exc)

    async def events(self, stream: StreamT[bytes]) -> AsyncIterator[EventT[Any]]:
        """Every agent iterates its stream through here: an event is acknowledged with the
        table writes flushed after the loop's body is done with it (never when the body
        raised)."""
        manual: faust.Stream[bytes] = stream.noack()  # type: ignore[attr-defined]
        async for event in manual.events():
            yield event
            self.writes.hold(event)

    async def dead_letter(self, event: EventT[Any], exc: DecodeError) -> None:
        message = event.message
        key = event.key if isinstance(event.key, bytes) else None
        value = event.value if isinstance(event.value, bytes) else b""
        letter = DeadLetter(
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            value=value,
            reason=type(exc).__name__,
            error=str(exc)[:1000],
            ts=now_us(),
            key=key,
        )
        spec = t.by_name(message.topic + t.DLQ_SUFFIX)
        await self.send(self.topic(spec), key, self.codec.encode(letter))
        self.metrics.dead_letters.labels(message.topic).inc()
        log.warning(
            "record.dead_lettered",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=str(exc)[:200],
        )

    async def publish(self, spec: TopicSpec, key: str, record: Record) -> None:
        await self.send(self.topic(spec), key.encode(), self.codec.encode(record))

    async def send(self, topic: faust.TopicT, key: bytes | None, value: bytes) -> None:
        """Every record an agent writes (tables aside) goes through here.

        The record's own time travels in its payload; the Kafka timestamp is the time of writing
        (the broker refuses timestamps far from its clock, and retention counts from it).
        A record the broker refuses is fatal: its input must not be committed as processed."""
        if self.captured is not None:
            self.captured.append((topic.get_topic_name(), key, value))
            return
        await topic.send(key=key, value=value, callback=self._delivered)

    def _delivered(self, future: FutureMessage) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            self.on_fatal(f"send to {future.message.channel.get_topic_name()}", exc)

    def observe(self, agent: str, received_ts: int) -> None:
        found = self._observers.get(agent)
        if found is None:
            found = (self.metrics.events.labels(agent), self.metrics.lag.labels(agent))
            self._observers[agent] = found
        events, lag = found
        events.inc()
        lag.observe(max(0.0, (now_us() - received_ts) / 1e6))
