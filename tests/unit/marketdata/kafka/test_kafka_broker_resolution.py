"""Which broker is used: the environment, then the config, then Docker, then the local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketdata.config import KafkaSettings
from marketdata.kafka import broker as broker_mod
from marketdata.kafka.broker import configured_bootstrap, docker_available


def _kafka(bootstrap: str | None) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap)


def test_the_environment_wins_over_the_config() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "10.0.0.1:9092"}
    assert configured_bootstrap(_kafka("cfg:9092"), env) == "10.0.0.1:9092"


def test_the_config_applies_when_the_environment_is_silent() -> None:
    assert configured_bootstrap(_kafka("cfg:9092"), {}) == "cfg:9092"
    assert configured_bootstrap(_kafka("cfg:9092"), {"KAFKA_BOOTSTRAP_SERVERS": " "}) == "cfg:9092"


def test_nothing_configured_means_resolve() -> None:
    assert configured_bootstrap(_kafka(None), {}) is None
    assert configured_bootstrap(_kafka(""), {}) is None
    assert configured_bootstrap(None, {}) is None


def test_no_docker_socket_means_no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(broker_mod, "Path", lambda _p: Path("/nonexistent/docker.sock"))
    assert docker_available() is False


def test_an_unreachable_docker_host_means_no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert docker_available() is False
