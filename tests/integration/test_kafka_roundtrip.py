"""A real broker round-trips what our producers will send: idempotent, acks=all, keyed, in order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pytest

from marketdata.kafka.clients import make_consumer, make_producer

pytestmark = pytest.mark.integration

N = 10_000


async def test_ten_thousand_keyed_messages_round_trip_in_order_per_key(
    bootstrap: str,
    new_topic: Callable[..., object],
    unique: Callable[[str], str],
) -> None:
    topic = await new_topic(unique("it.roundtrip"), partitions=3)  # type: ignore[misc]
    keys = [f"kraken:{s}" for s in ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD")]
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, key=keys[i % 4].encode(), value=f"{i}".encode())
            for i in range(N)
        ]
        await producer.flush()
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    assert {m.topic for m in metas} == {topic}

    consumer = make_consumer(bootstrap, topic, group_id=unique("it.group"))
    await consumer.start()
    seen: dict[str, list[int]] = defaultdict(list)
    try:
        total = 0
        while total < N:
            batch = await consumer.getmany(timeout_ms=5_000)
            assert batch, f"no data after {total} of {N} messages"
            for records in batch.values():
                for r in records:
                    seen[r.key.decode()].append(int(r.value))
                    total += 1
    finally:
        await consumer.stop()

    assert sum(len(v) for v in seen.values()) == N
    for index, key in enumerate(keys):
        # Per key: every message exactly once, in the order it was sent.
        assert seen[key] == list(range(index, N, 4))
