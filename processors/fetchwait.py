"""The processors' consumer fetch wait and size (`kafka.fetchMaxWaitMs`,
`processors.fetchMinBytes`), which faust does not expose.

faust builds its aiokafka consumer with `fetch_max_wait_ms=1500` and `fetch_min_bytes=1`,
fixed. aiokafka sends one fetch at a time per broker, leaving out the partitions that still
have records buffered, so a fetch made of quiet partitions only holds the busy ones up until the
broker answers it: with 1,500 ms, prices lagged by seconds at 1,000 events/s while the worker had
CPU to spare. With 1 byte, a loaded worker fetches after every few records, and building and
parsing fetches in Python cost about a quarter of its CPU at 2,000 events/s. This sets both for
every worker consumer an app creates.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

_ATTRIBUTE = "marketdata_fetch_limits"
_original = driver.AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original(self, transport)
    limits = getattr(self.app, _ATTRIBUTE, None)
    if limits is not None:  # both read when the consumer starts its fetcher
        consumer._fetch_max_wait_ms, consumer._fetch_min_bytes = limits
    return consumer


def limit_fetch_wait(app: faust.App, fetch_max_wait_ms: int, fetch_min_bytes: int = 1) -> None:
    setattr(app, _ATTRIBUTE, (fetch_max_wait_ms, fetch_min_bytes))
    driver.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
