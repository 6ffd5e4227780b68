"""Heartbeats repeat the current state and refresh the freshness and rate-limit gauges."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry

from producers.runner import heartbeats
from producers.status import ProducerMetrics, StatusReporter, now_us
from schemas.models import CircuitState, ConnectionState, ConnectionStatus
from tests.contract.producer.producer_harness import RecordingPublisher


async def test_heartbeats_keep_the_latest_status_truthful_and_gauges_fresh() -> None:
    published = RecordingPublisher()
    registry = CollectorRegistry()
    status = StatusReporter(
        "kraken", published, rate_limit_used=lambda: 0.25, circuit=lambda: CircuitState.CLOSED
    )
    await status.report(ConnectionState.SUBSCRIBED, "BTC/USD")
    status.last_message_ts = now_us() - 3_000_000
    task = asyncio.create_task(heartbeats(status, ProducerMetrics(registry), interval=0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    records = [r for r in published.of("md.status.v1") if isinstance(r, ConnectionStatus)]
    assert len(records) >= 3
    assert {r.state for r in records} == {ConnectionState.SUBSCRIBED}
    assert records[-1].detail == "heartbeat"
    assert records[-1].rate_limit_used == 0.25
    age = registry.get_sample_value(
        "marketdata_producer_last_message_age_seconds", {"exchange": "kraken"}
    )
    assert age is not None
    assert age >= 3.0
    assert (
        registry.get_sample_value(
            "marketdata_producer_rate_limit_used_ratio", {"exchange": "kraken"}
        )
        == 0.25
    )
