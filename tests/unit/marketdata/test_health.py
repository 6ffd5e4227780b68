"""The health endpoint of the producer and the processor: checks, the JSON answers, the server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from prometheus_client import CollectorRegistry, Counter

from marketdata.config import ConfigError, load_config
from marketdata.health import (
    Advancing,
    Check,
    Health,
    HealthReport,
    HealthServer,
    Heartbeat,
    bound_url,
    counter_total,
    serve,
)
from marketdata.metrics import new_registry


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_heartbeat_fails_before_the_first_beat_and_once_the_beats_stop() -> None:
    clock = FakeClock()
    beat = Heartbeat(max_age=10, clock=clock)
    assert beat.check() == Check(ok=False, detail="not started: the loop has not beaten yet")

    beat.beat()
    clock.now += 9.5
    assert beat.check().ok
    assert "9.5 s ago" in beat.check().detail

    clock.now += 1.0
    stalled = beat.check()
    assert not stalled.ok
    assert stalled.detail == "stalled: last beat 10.5 s ago (max 10 s)"


async def test_heartbeat_run_beats_from_the_loop_it_runs_on() -> None:
    beat = Heartbeat()
    task = asyncio.create_task(beat.run(interval=60))
    await asyncio.sleep(0)
    try:
        assert beat.check().ok
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_advancing_needs_a_first_move_and_fails_when_the_count_stops() -> None:
    clock = FakeClock()
    count = [0.0]
    acks = Advancing("acks", lambda: count[0], within=15, clock=clock)
    assert acks.check() == Check(ok=False, detail="no acks yet")

    count[0] = 3
    assert acks.check() == Check(ok=True, detail="3 acks; last seen moving 0.0 s ago")

    clock.now += 16
    assert acks.check() == Check(ok=False, detail="no acks for 16.0 s (max 15 s); 3 in total")

    count[0] = 4
    assert acks.check().ok


def test_counter_total_reads_one_labelled_child() -> None:
    registry = CollectorRegistry()
    records = Counter("x_records_total", "t", ["topic"], registry=registry)
    read = counter_total(records, topic="md.status.v1")
    assert read() == 0.0

    records.labels("md.trades.v1").inc(7)
    records.labels("md.status.v1").inc(2)
    assert read() == 2.0


def test_ready_is_failing_until_a_readiness_check_exists_and_includes_liveness() -> None:
    health = Health("producer")
    health.add_live("event_loop", lambda: Check(ok=True, detail="beating"))
    assert health.live().status == "ok"

    starting = health.ready()
    assert starting.status == "failing"
    assert starting.checks["started"].detail == "starting: no readiness check yet"
    assert starting.checks["event_loop"].ok

    health.add_ready("exchange_session", lambda: Check(ok=True, detail="kraken subscribed"))
    ready = health.ready()
    assert ready.status == "ok"
    assert set(ready.checks) == {"event_loop", "exchange_session"}


def test_a_check_that_raises_fails_the_report_with_the_error() -> None:
    health = Health("processor")

    def broken() -> Check:
        raise RuntimeError("boom")

    health.add_live("event_loop", broken)
    report = health.live()
    assert report.status == "failing"
    assert report.checks["event_loop"] == Check(
        ok=False, detail="check raised RuntimeError('boom')"
    )


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Health, dict[str, Check]]]:
    registry = new_registry("producer")
    Counter("marketdata_test_served_total", "t", registry=registry).inc()
    health = Health("producer")
    state = {"live": Check(ok=True, detail="beating"), "ready": Check(ok=False, detail="down")}
    health.add_live("event_loop", lambda: state["live"])
    health.add_ready("exchange_session", lambda: state["ready"])
    server = serve(registry, health, "127.0.0.1", 0)
    try:
        yield server, health, state
    finally:
        server.close()


def test_the_server_answers_the_probes_with_json_and_the_status_code(
    served: tuple[HealthServer, Health, dict[str, Check]],
) -> None:
    server, _, state = served
    base = bound_url(server, "127.0.0.1")
    with httpx.Client(base_url=base, timeout=5) as client:
        live = client.get("/health/live")
        assert live.status_code == 200
        assert live.headers["content-type"] == "application/json"
        body = msgspec.json.decode(live.content, type=HealthReport)
        assert body.part == "producer"
        assert body.checks == {"event_loop": Check(ok=True, detail="beating")}

        not_ready = client.get("/health/ready")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["exchange_session"] == {"ok": False, "detail": "down"}

        state["ready"] = Check(ok=True, detail="kraken subscribed")
        assert client.get("/health/ready").status_code == 200

        state["live"] = Check(ok=False, detail="stalled")
        assert client.get("/health/live").status_code == 503
        assert client.get("/health/ready").json()["status"] == "failing"


def test_the_server_serves_metrics_in_both_exposition_formats(
    served: tuple[HealthServer, Health, dict[str, Check]],
) -> None:
    server, _, _ = served
    with httpx.Client(base_url=bound_url(server, "127.0.0.1"), timeout=5) as client:
        text = client.get("/metrics")
        assert text.status_code == 200
        assert text.headers["content-type"].startswith("text/plain")
        assert "marketdata_test_served_total 1.0" in text.text
        assert 'marketdata_build_info{part="producer"' in text.text

        open_metrics = client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert open_metrics.text.rstrip().endswith("# EOF")


def test_unknown_paths_are_404_and_head_has_no_body(
    served: tuple[HealthServer, Health, dict[str, Check]],
) -> None:
    server, _, _ = served
    with httpx.Client(base_url=bound_url(server, "127.0.0.1"), timeout=5) as client:
        missing = client.get("/healthz")
        assert missing.status_code == 404
        assert missing.json()["paths"] == ["/health/live", "/health/ready", "/metrics"]

        head = client.head("/health/live")
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) > 0


def test_close_releases_the_port() -> None:
    server = serve(CollectorRegistry(), Health("x"), "127.0.0.1", 0)
    port = server.port
    server.close()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_bound_url_shows_a_wildcard_bind_as_loopback() -> None:
    server = serve(CollectorRegistry(), Health("x"), "0.0.0.0", 0)
    try:
        assert bound_url(server, "0.0.0.0") == f"http://127.0.0.1:{server.port}"
        answer = httpx.get(f"{bound_url(server, '0.0.0.0')}/health/live", timeout=5)
        assert answer.status_code == 200  # no liveness check registered: the process answers
    finally:
        server.close()
    assert bound_url(server, "::") == f"http://[::1]:{server.port}"


def test_the_endpoint_binds_loopback_unless_configured(tmp_path: Path) -> None:
    assert load_config(None, {}).service.metrics_host == "127.0.0.1"
    path = tmp_path / "config.yaml"
    path.write_text("marketData:\n  service: {metricsHost: 0.0.0.0, metricsPort: 9000}\n")
    service = load_config(path, {}).service
    assert (service.metrics_host, service.metrics_port) == ("0.0.0.0", 9000)
    path.write_text("marketData:\n  service: {metricsHost: ''}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert [p.path for p in error.value.problems] == ["marketData.service.metricsHost"]
