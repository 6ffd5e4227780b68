"""Run one exchange's producer: topics, Kafka publisher, adapter, control, heartbeats, metrics.

Control records (md.control.v1, compacted: the latest desired state per `exchange:symbol`) are
read from the beginning without a consumer group, so every producer replica learns the whole
desired state at start and then follows changes live. Each request is answered with a Subscription
record carrying the outcome (active, removed or rejected with the reason) under the same key.

A Kafka outage does not stop the producer: the publisher buffers within its bound, the status
reporter publishes the outage report when it ends, and an adapter that can resync a book
(`BookResyncing`) is asked for fresh snapshots of the books whose updates were shed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import msgspec
from prometheus_client import CollectorRegistry

from marketdata.config import Settings
from marketdata.health import Advancing, Check, Health, counter_total
from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_consumer
from marketdata.logs import get_logger
from producers.base import ExchangeAdapter
from producers.kafka_client import kafka_already_written, kafka_producer_factory
from producers.publish import KafkaPublisher, Publisher, PublishMetrics
from producers.status import ProducerMetrics, StatusReporter, now_us
from schemas import topics
from schemas.codec import Codec, DecodeError
from schemas.models import ConnectionState, Subscription, SubscriptionAction, SubscriptionStatus

log = get_logger("producers.runner")

HEARTBEAT_SECONDS = 2.0
DELIVERY_WITHIN_SECONDS = 15.0
"""Ready only while Kafka acknowledged a record this recently (heartbeats go every 2 s)."""

AdapterFactory = Callable[[Publisher, StatusReporter, ProducerMetrics], ExchangeAdapter]


@runtime_checkable
class BookResyncing(Protocol):
    """An adapter that can fetch a fresh snapshot of one book on request."""

    async def resync_book(self, symbol: str, reason: str) -> None: ...


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


def watch_health(health: Health, status: StatusReporter, publish: PublishMetrics) -> None:
    """A producer is ready while its exchange session is up and Kafka acknowledges its records:
    the status heartbeats go to md.status.v1 every few seconds whatever the market does, so their
    acknowledgements stop only when Kafka does."""

    def session() -> Check:
        state = status.state
        up = state in (ConnectionState.CONNECTED, ConnectionState.SUBSCRIBED)
        return Check(ok=up, detail=f"{status.exchange} {state.value}")

    delivered = counter_total(publish.records, topic=topics.STATUS.name)
    acknowledged = Advancing(
        f"{topics.STATUS.name} records acknowledged", delivered, DELIVERY_WITHIN_SECONDS
    )
    health.add_ready("exchange_session", session)
    health.add_ready("kafka_delivery", acknowledged.check)


async def run_producer(
    settings: Settings,
    exchange: str,
    bootstrap: str,
    registry: CollectorRegistry,
    make_adapter: AdapterFactory,
    stop: asyncio.Event,
    health: Health | None = None,
) -> None:
    """Run until `stop` is set; an unexpected error propagates (the supervisor restarts us)."""
    await ensure_topics(bootstrap, replication_factor=settings.kafka.replication_factor)
    codec = Codec()
    publish_metrics = PublishMetrics(registry)
    client_id = f"producer-{exchange}"
    publisher = KafkaPublisher(
        kafka_producer_factory(bootstrap, settings.kafka, client_id=client_id),
        codec,
        publish_metrics,
        settings.kafka.producer,
        already_written=kafka_already_written(bootstrap, f"{client_id}-reconcile"),
    )
    await publisher.start()
    metrics = ProducerMetrics(registry)
    status = StatusReporter(exchange, publisher)
    publisher.on_outage_end(status.kafka_outage)
    if health is not None:
        watch_health(health, status, publish_metrics)
    adapter = make_adapter(publisher, status, metrics)
    if isinstance(adapter, BookResyncing):
        publisher.on_book_gap(adapter.resync_book)
    tasks = [
        asyncio.create_task(publisher.failed(), name=f"{exchange}-publisher"),
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
        # Gathered, not awaited one by one: a task that failed must not skip the flush below.
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
        await publisher.close()
