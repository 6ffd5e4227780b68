"""The processors' consumer fetch wait (`kafka.fetchMaxWaitMs`), which faust does not expose.

faust builds its aiokafka consumer with `fetch_max_wait_ms=1500`, fixed. aiokafka sends one
fetch at a time per broker, leaving out the partitions that still have records buffered, so a
fetch made of quiet partitions only holds the busy ones up until the broker answers it: with
1,500 ms, prices lagged by seconds at 1,000 events/s while the worker had CPU to spare. This
sets the wait of every worker consumer an app creates to the configured value.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

_ATTRIBUTE = "marketdata_fetch_max_wait_ms"
_original = driver.AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original(self, transport)
    wait = getattr(self.app, _ATTRIBUTE, None)
    if wait is not None:
        consumer._fetch_max_wait_ms = wait  # read when the consumer starts its fetcher
    return consumer


def limit_fetch_wait(app: faust.App, fetch_max_wait_ms: int) -> None:
    setattr(app, _ATTRIBUTE, fetch_max_wait_ms)
    driver.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
