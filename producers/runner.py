"""Run one exchange's producer: topics, Kafka publisher, adapter, control, heartbeats, metrics.

Control records (md.control.v1, compacted: the latest desired state per `exchange:symbol`) are
read from the beginning without a consumer group, so every producer replica learns the whole
desired state at start and then follows changes live. Each request is answered with a Subscription
record carrying the outcome (active, removed or rejected with the reason) under the same key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import msgspec
from prometheus_client import CollectorRegistry

from marketdata.config import Settings
from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_consumer, make_producer
from marketdata.logs import get_logger
from producers.base import ExchangeAdapter
from producers.publish import KafkaPublisher, Publisher, PublishMetrics
from producers.status import ProducerMetrics, StatusReporter, now_us
from schemas import topics
from schemas.codec import Codec, DecodeError
from schemas.models import Subscription, SubscriptionAction, SubscriptionStatus

log = get_logger("producers.runner")

HEARTBEAT_SECONDS = 2.0

AdapterFactory = Callable[[Publisher, StatusReporter, ProducerMetrics], ExchangeAdapter]


async def apply_control(
    adapter: ExchangeAdapter,
    request: Subscription,
    publisher: Publisher,
) -> Subscription:
    """Carry out one desired-state record on the live connection and publish the outcome."""
    if request.action is SubscriptionAction.SUBSCRIBE:
        reason = await adapter.subscribe(request.symbol, request.channels)
        status = SubscriptionStatus.ACTIVE if reason is None else SubscriptionStatus.REJECTED
    else:
        reason = await adapter.unsubscribe(request.symbol, request.channels)
        status = SubscriptionStatus.REMOVED if reason is None else SubscriptionStatus.REJECTED
    answer = msgspec.structs.replace(request, status=status, reason=reason, ts=now_us())
    key = f"{request.exchange}:{request.symbol}"
    await publisher.publish(topics.CONTROL, key, answer, answer.ts)
    log.info(
        "control.applied", key=key, action=request.action.value, status=status.value, reason=reason
    )
    return answer


async def on_control(
    adapter: ExchangeAdapter,
    record: Subscription,
    publisher: Publisher,
) -> Subscription | None:
    """Converge the live connection to one control record.

    A request is carried out and answered. An answer (ours, or another replica's, or one
    replayed from the compacted topic after a restart) is desired state already decided: it is
    applied silently when the connection does not match it yet, so a restarted producer comes
    back with the subscriptions it had, and a replica's own echo changes nothing.
    """
    if record.status is SubscriptionStatus.REQUESTED:
        return await apply_control(adapter, record, publisher)
    wanted = record.symbol in adapter.symbols
    if record.status is SubscriptionStatus.ACTIVE and not wanted:
        await adapter.subscribe(record.symbol, record.channels)
    elif record.status is SubscriptionStatus.REMOVED and wanted and not record.channels:
        await adapter.unsubscribe(record.symbol, record.channels)
    return None


async def follow_control(
    bootstrap: str,
    exchange: str,
    adapter: ExchangeAdapter,
    publisher: Publisher,
    codec: Codec,
) -> None:
    consumer = make_consumer(
        bootstrap, topics.CONTROL.name, group_id=None, client_id=f"producer-{exchange}-control"
    )
    await consumer.start()
    try:
        async for message in consumer:
            try:
                request = codec.decode_as(
                    message.value,
                    Subscription,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
            except DecodeError as exc:
                log.error("control.undecodable", error=str(exc))
                continue
            if request.exchange == exchange:
                await on_control(adapter, request, publisher)
    finally:
        await consumer.stop()


async def heartbeats(
    status: StatusReporter,
    metrics: ProducerMetrics,
    interval: float = HEARTBEAT_SECONDS,
) -> None:
    """The dead man's switch downstream watches these; the gauges refresh at the same pace."""
    while True:
        await asyncio.sleep(interval)
        await status.heartbeat()
        metrics.rate_limit_used.labels(status.exchange).set(status.rate_limit_used())
        if status.last_message_ts is not None:
            age = max(0.0, (now_us() - status.last_message_ts) / 1e6)
            metrics.last_message_age.labels(status.exchange).set(age)


async def run_producer(
    settings: Settings,
    exchange: str,
    bootstrap: str,
    registry: CollectorRegistry,
    make_adapter: AdapterFactory,
    stop: asyncio.Event,
) -> None:
    """Run until `stop` is set; an unexpected error propagates (the supervisor restarts us)."""
    await ensure_topics(bootstrap, replication_factor=settings.kafka.replication_factor)
    codec = Codec()
    producer = make_producer(bootstrap, settings.kafka, client_id=f"producer-{exchange}")
    await producer.start()
    publisher = KafkaPublisher(producer, codec, PublishMetrics(registry))
    metrics = ProducerMetrics(registry)
    status = StatusReporter(exchange, publisher)
    adapter = make_adapter(publisher, status, metrics)
    tasks = [
        asyncio.create_task(adapter.run(), name=f"{exchange}-adapter"),
        asyncio.create_task(heartbeats(status, metrics), name=f"{exchange}-heartbeat"),
        asyncio.create_task(
            follow_control(bootstrap, exchange, adapter, publisher, codec),
            name=f"{exchange}-control",
        ),
    ]
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and (exc := task.exception()) is not None:
                raise exc
    finally:
        await adapter.stop()
        for task in [*tasks, stopper]:
            task.cancel()
        for task in [*tasks, stopper]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await publisher.flush()
        await producer.stop()
