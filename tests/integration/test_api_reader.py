"""The API's Kafka reader (librdkafka in a thread of its own) against a real broker: records in
offset order from the assigned offsets, positions that follow them, a prompt and clean close;
metadata errors of a broker starting or a topic just created are asked again, others are not."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from aiokafka import TopicPartition
from confluent_kafka import KafkaError, KafkaException

from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_producer
from query_api.readmodel.reader import KafkaReader, _retriable
from schemas import topics as t

pytestmark = pytest.mark.integration


async def test_reads_from_the_assigned_offsets_in_order_and_closes_cleanly(bootstrap: str) -> None:
    spec = replace(t.TRADES, name=f"test.reader.{time.time_ns()}", partitions=2)
    await ensure_topics(bootstrap, specs=[spec])  # just created: the watermarks are retried
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(spec.name, str(i).encode(), partition=i % 2)
    finally:
        await producer.stop()
    reader = KafkaReader(bootstrap, client_id="test-reader", fetch_max_wait_ms=10)
    tps = [TopicPartition(spec.name, 0), TopicPartition(spec.name, 1)]
    marks = await reader.watermarks(tps)
    assert marks == {tps[0]: (0, 5), tps[1]: (0, 5)}
    reader.assign({tps[0]: 2, tps[1]: 0})  # partition 0 from its third record
    seen: dict[int, list[bytes]] = {0: [], 1: []}
    try:
        async for batch in reader.batches():
            for message in batch:
                seen[message.partition()].append(message.value())  # type: ignore[index,arg-type]
            if reader.positions == {tps[0]: 5, tps[1]: 5}:
                break
    finally:
        await reader.close()
    assert seen == {0: [b"4", b"6", b"8"], 1: [b"1", b"3", b"5", b"7", b"9"]}
    assert reader._thread is not None
    assert not reader._thread.is_alive()


async def test_offsets_for_a_time_after_every_record_are_none(bootstrap: str) -> None:
    spec = replace(t.TRADES, name=f"test.reader.time.{time.time_ns()}", partitions=1)
    await ensure_topics(bootstrap, specs=[spec])
    reader = KafkaReader(bootstrap, client_id="test-reader", fetch_max_wait_ms=10)
    try:
        tp = TopicPartition(spec.name, 0)
        assert await reader.offsets_for_time([tp], time.time_ns() // 1_000_000) == {tp: None}
    finally:
        await reader.close()


@pytest.mark.parametrize(
    ("error", "asked_again"),
    [
        (KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)), True),
        (KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)), True),
        (KafkaException(KafkaError(KafkaError._TRANSPORT)), True),
        (KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)), False),
        (ValueError("not Kafka's"), False),
    ],
)
def test_which_metadata_errors_are_asked_again(error: BaseException, asked_again: bool) -> None:
    assert _retriable(error) is asked_again
