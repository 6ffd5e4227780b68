"""Kafka client factories: every part gets producers and consumers configured the same way.

Producers are idempotent with `acks=all` (the design's delivery contract); only batching and
compression are tunable. Consumers read committed data and never auto-create topics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

if TYPE_CHECKING:
    from marketdata.config import KafkaSettings


def producer_options(kafka: KafkaSettings | None) -> dict[str, Any]:
    compression = kafka.compression if kafka is not None else "none"
    return {
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": kafka.linger_ms if kafka is not None else 0,
        "compression_type": None if compression == "none" else compression,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 30_000,
    }


def make_producer(
    bootstrap: str,
    kafka: KafkaSettings | None = None,
    *,
    client_id: str = "marketdata",
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        **producer_options(kafka),
    )


def consumer_options(
    bootstrap: str,
    *,
    group_id: str | None,
    client_id: str,
    from_beginning: bool,
) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "group_id": group_id,
        "auto_offset_reset": "earliest" if from_beginning else "latest",
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
    }


def make_consumer(
    bootstrap: str,
    *topics: str,
    group_id: str | None = None,
    client_id: str = "marketdata",
    from_beginning: bool = True,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A consumer; with `group_id=None` it is group-less (the API's read model: every replica
    reads every partition)."""
    options = consumer_options(
        bootstrap,
        group_id=group_id,
        client_id=client_id,
        from_beginning=from_beginning,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)
