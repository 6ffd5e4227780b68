"""Where the Kafka broker comes from, decided the same way everywhere (CLI, tests, `make run`).

1. `KAFKA_BOOTSTRAP_SERVERS` in the environment, else `kafka.bootstrapServers` in the config;
2. else a throw-away `apache/kafka` container through testcontainers, when a Docker engine answers;
3. else a real local broker started from Maven Central's jars (`marketdata.kafka.local`).

No mock and no other Kafka-compatible server ever stands in for Kafka.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from marketdata.kafka.local import LocalKafka, free_port, status
from marketdata.kafka.probe import wait_for_brokers
from marketdata.kafka.runtime import DEFAULT_VERSION, resolve

if TYPE_CHECKING:
    from marketdata.config import KafkaSettings

ENV_BOOTSTRAP: Final = "KAFKA_BOOTSTRAP_SERVERS"
DOCKER_IMAGE: Final = f"apache/kafka:{DEFAULT_VERSION}"


class BrokerSource(StrEnum):
    CONFIGURED = "configured"
    DOCKER = "docker"
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Broker:
    bootstrap: str
    source: BrokerSource


def configured_bootstrap(kafka: KafkaSettings | None, env: Mapping[str, str]) -> str | None:
    """The explicitly configured bootstrap servers, the environment winning over the file."""
    if value := env.get(ENV_BOOTSTRAP, "").strip():
        return value
    if kafka is not None and kafka.bootstrap_servers:
        return kafka.bootstrap_servers
    return None


def docker_available() -> bool:
    """True when a Docker engine answers a ping within 3 s (a docker CLI alone is not enough)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return False  # the common case here: no engine, and no need to load the SDK to know it
    try:
        import docker  # noqa: PLC0415 - optional path, only probed when nothing is configured

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def docker_kafka(progress: Callable[[str], None]) -> Iterator[str]:
    """A single-node KRaft `apache/kafka` container for the life of the context."""
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415

    port = free_port()
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    container: Any = DockerContainer(DOCKER_IMAGE).with_bind_ports(9092, port)
    for key, value in env.items():
        container = container.with_env(key, value)
    progress(f"starting {DOCKER_IMAGE} in Docker")
    with container:
        bootstrap = f"127.0.0.1:{port}"
        wait_for_brokers(bootstrap, 1, deadline=time.monotonic() + 120)
        yield bootstrap


@contextlib.contextmanager
def broker(
    kafka: KafkaSettings | None,
    *,
    state_dir: Path,
    env: Mapping[str, str] | None = None,
    nodes: int = 1,
    progress: Callable[[str], None] = lambda _msg: None,
) -> Iterator[Broker]:
    """Yield a broker that answers, starting one only if none is configured; stop what we start."""
    env = os.environ if env is None else env
    if bootstrap := configured_bootstrap(kafka, env):
        progress(f"using the configured Kafka at {bootstrap}")
        wait_for_brokers(bootstrap, 1, deadline=time.monotonic() + 60)
        yield Broker(bootstrap, BrokerSource.CONFIGURED)
        return
    running, alive = status(state_dir)
    if running is not None and alive and all(alive.values()) and len(alive) >= nodes:
        progress(f"using the local Kafka already running at {running.bootstrap} (`kafka up`)")
        yield Broker(running.bootstrap, BrokerSource.LOCAL)
        return
    if nodes == 1 and docker_available():
        with docker_kafka(progress) as bootstrap:
            yield Broker(bootstrap, BrokerSource.DOCKER)
        return
    local = kafka.local if kafka is not None else None
    runtime = resolve(
        local.version if local else DEFAULT_VERSION,
        local.home if local else None,
        progress=progress,
    )
    with LocalKafka(
        runtime,
        state_dir,
        nodes=nodes,
        port=local.port if local else 0,
        heap_mb=local.heap_mb if local else 512,
        jit=local.jit if local else "quick",
        progress=progress,
    ) as cluster:
        yield Broker(cluster.bootstrap, BrokerSource.LOCAL)
