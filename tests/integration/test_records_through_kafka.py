"""Every record type travels through a real broker on its own topic and decodes unchanged."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_consumer, make_producer
from schemas.codec import Codec, DecodeError
from schemas.models import Record
from schemas.topics import ALL, TopicSpec
from tests.unit.schemas.examples import examples

pytestmark = pytest.mark.integration


def _key(record: Record) -> bytes:
    exchange = getattr(record, "exchange", None) or "kraken"
    tail = getattr(record, "symbol", None) or getattr(record, "asset", None) or ""
    return f"{exchange}:{tail}".encode()


@pytest.fixture
async def topics(bootstrap: str, unique: Callable[[str], str]) -> AsyncIterator[list[TopicSpec]]:
    fresh = [dataclasses.replace(s, name=unique(s.name)) for s in ALL]
    await ensure_topics(bootstrap, specs=fresh)
    yield fresh
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([s.name for s in fresh])
    finally:
        await admin.close()


async def test_each_record_type_round_trips_on_its_declared_topic(
    bootstrap: str,
    topics: list[TopicSpec],
    unique: Callable[[str], str],
) -> None:
    codec = Codec()
    by_record = {type(r).__name__: r for r in examples()}
    sent: dict[str, Record] = {}
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for spec in topics:
            record = by_record[spec.record]
            await producer.send_and_wait(spec.name, codec.encode(record), key=_key(record))
            sent[spec.name] = record
    finally:
        await producer.stop()

    consumer = make_consumer(bootstrap, *sent, group_id=unique("it.records"))
    await consumer.start()
    received: dict[str, Record] = {}
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"missing topics: {set(sent) - set(received)}"
            for tp, messages in batch.items():
                for m in messages:
                    received[tp.topic] = codec.decode(
                        m.value,
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=m.offset,
                    )
                    assert m.key == _key(sent[tp.topic])
    finally:
        await consumer.stop()

    assert received == sent
    # Every record type has a topic, but RawFrame: md.raw.v1's records before 2026-12-03, still
    # decodable (test_schemas_codec), no longer written (RawFrames took its place).
    assert {type(r).__name__ for r in received.values()} == set(by_record) - {"RawFrame"}


async def test_a_corrupt_record_is_a_decode_error_naming_its_topic_and_offset(
    bootstrap: str,
    topics: list[TopicSpec],
    unique: Callable[[str], str],
) -> None:
    trades = next(s for s in topics if s.record == "Trade" and ".dlq" not in s.name)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            trades.name, b"\xc3\x01" + bytes(8) + b"junk", key=b"k", partition=0
        )
    finally:
        await producer.stop()
    consumer = make_consumer(bootstrap, trades.name, group_id=unique("it.corrupt"))
    await consumer.start()
    try:
        message = await consumer.getone()
    finally:
        await consumer.stop()
    with pytest.raises(DecodeError, match=rf"{trades.name}\[0\]@0: unknown schema fingerprint"):
        Codec().decode(
            message.value, topic=message.topic, partition=message.partition, offset=message.offset
        )
