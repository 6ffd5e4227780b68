"""Suite-wide fixtures: a real Kafka broker for integration tests, and a guard against leaked tasks.

The broker comes from the same resolution as everywhere else (`marketdata.kafka.broker`):
KAFKA_BOOTSTRAP_SERVERS, else a Docker container when an engine answers, else a local broker
resolved from Maven Central. The suite stops whatever it started.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from marketdata.kafka.broker import Broker, broker


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    state_dir = tmp_path_factory.mktemp("kafka")
    with broker(None, state_dir=state_dir, progress=lambda m: print(f"[kafka] {m}")) as b:
        yield b


@pytest.fixture
def bootstrap(kafka: Broker) -> str:
    return kafka.bootstrap


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Fresh names per test (topics, groups), so tests never see each other's data."""
    suffix = uuid.uuid4().hex[:10]
    return lambda prefix: f"{prefix}.{suffix}"


@pytest.fixture
async def new_topic(bootstrap: str) -> AsyncIterator[Callable[..., object]]:
    """Create a fresh topic for this test: `await new_topic(name, partitions=3, **configs)`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(name: str, partitions: int = 3, **configs: str) -> str:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        created.append(name)
        return name

    try:
        yield create
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test gets the leaked-task guard, set up first so it is torn down last."""
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.fixturenames.insert(0, "_no_leaked_tasks")  # type: ignore[attr-defined]


@pytest.fixture
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """A test must not leave asyncio tasks running behind it."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    assert not leaked, f"test leaked tasks: {leaked}"
