"""Run the Kraken adapter against the simulator with a recording publisher (no Kafka needed).

The recording publisher is the test seam the adapter is written against (the `Publisher`
protocol); Kafka itself is exercised by the integration tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from marketdata.config import ExchangeSettings
from producers.exchanges.kraken.adapter import KrakenAdapter
from producers.status import ProducerMetrics, StatusReporter
from schemas.models import Record
from schemas.topics import TopicSpec
from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimulatorConfig
from simulator.server import SimulatorHandle, running_simulator


@dataclass
class RecordingPublisher:
    records: dict[str, list[tuple[str, Record]]] = field(default_factory=lambda: defaultdict(list))

    async def publish(self, topic: TopicSpec, key: str, record: Record, timestamp_us: int) -> None:
        self.records[topic.name].append((key, record))

    def of(self, topic: str) -> list[Record]:
        return [r for _k, r in self.records[topic]]


@dataclass
class Running:
    sim: SimulatorHandle
    adapter: KrakenAdapter
    published: RecordingPublisher
    metrics: ProducerMetrics
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return value or 0.0


def settings_for(sim: SimulatorHandle, **overrides: object) -> ExchangeSettings:
    base: dict[str, object] = {
        "ws_url": sim.ws_url,
        "ws_auth_url": sim.ws_auth_url,
        "rest_url": sim.rest_url,
        "api_key": DEFAULT_API_KEY,
        "secret_key": DEFAULT_API_SECRET,
        "book_depth": 10,
        "ohlc_intervals": [1],
        "heartbeat_timeout_seconds": 3.0,
        "connect_timeout_seconds": 3.0,
        "backoff": {"initial_seconds": 0.05, "max_seconds": 0.5},
        "rest_poll_balance_seconds": 1.0,
        "rate_limit": {"requests_per_second": 50, "requests_per_minute": 1000},
    }
    base.update(overrides)
    return ExchangeSettings.model_validate(base)


@contextlib.asynccontextmanager
async def running_producer(
    config: SimulatorConfig | None = None,
    **overrides: object,
) -> AsyncIterator[Running]:
    async with running_simulator(config or SimulatorConfig(events_per_second=400)) as sim:
        published = RecordingPublisher()
        registry = CollectorRegistry()
        metrics = ProducerMetrics(registry)
        status = StatusReporter("kraken", published)
        adapter = KrakenAdapter(settings_for(sim, **overrides), published, status, metrics)
        task = asyncio.create_task(adapter.run())
        try:
            yield Running(sim, adapter, published, metrics, registry)
        finally:
            await adapter.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wait_for(check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.05)
