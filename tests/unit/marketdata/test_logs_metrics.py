"""Logging and metrics plumbing: JSON lines off a terminal, one registry per part."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import Counter

from marketdata.logs import configure_logging, get_logger
from marketdata.metrics import exposition, new_registry, serve_metrics


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_carry_event_part_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json", part="producer")
    get_logger("t").info("ws.connected", url="wss://example", attempt=2)
    logging.getLogger("aiokafka").warning("library says %s", "hello")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    ours, lib = lines
    assert ours["event"] == "ws.connected"
    assert ours["url"] == "wss://example"
    assert ours["attempt"] == 2
    assert ours["part"] == "producer"
    assert ours["level"] == "info"
    assert lib["event"] == "library says hello"
    assert lib["logger"] == "aiokafka"


def test_level_filters_below_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    get_logger("t").info("quiet.event")
    get_logger("t").warning("loud.event")
    events = [json.loads(x)["event"] for x in capsys.readouterr().err.splitlines()]
    assert events == ["loud.event"]


def test_each_registry_is_separate_and_carries_build_info() -> None:
    a, b = new_registry("api"), new_registry("producer")
    Counter("marketdata_test_events_total", "t", registry=a).inc(3)

    body_a, content_type = exposition(a)
    body_b, _ = exposition(b)
    assert b"marketdata_test_events_total 3.0" in body_a
    assert b"marketdata_test_events_total" not in body_b
    assert b'part="api"' in body_a
    assert content_type.startswith("text/plain")


def test_port_zero_disables_the_metrics_endpoint() -> None:
    assert serve_metrics(new_registry("x"), 0) == 0


def test_metrics_are_served_over_http_on_loopback() -> None:
    import httpx

    from marketdata.kafka.local import free_port

    registry = new_registry("producer")
    Counter("marketdata_test_served_total", "t", registry=registry).inc()
    port = serve_metrics(registry, free_port())

    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert answer.status_code == 200
    assert "marketdata_test_served_total 1.0" in answer.text
