"""`topics ensure` creates the declared topics with their configs, and is idempotent."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from marketdata.kafka.admin import TopicAction, TopicDriftError, ensure_topics
from schemas.topics import ALL, Cleanup, TopicSpec

pytestmark = pytest.mark.integration


@pytest.fixture
async def specs(bootstrap: str, unique: Callable[[str], str]) -> AsyncIterator[list[TopicSpec]]:
    """Every declared topic under a fresh name, deleted afterwards."""
    fresh = [dataclasses.replace(s, name=unique(s.name)) for s in ALL]
    yield fresh
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        await admin.delete_topics([s.name for s in fresh if s.name in existing])
    finally:
        await admin.close()


async def _configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        )
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for res in response.to_object()["resources"]:
            out[res["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in res["config_entries"]
            }
    for d in described:
        out[d["topic"]]["partitions"] = str(len(d["partitions"]))
    return out


async def test_ensure_creates_every_declared_topic_with_its_policy(
    bootstrap: str,
    specs: list[TopicSpec],
) -> None:
    results = await ensure_topics(bootstrap, specs=specs)

    assert [r.action for r in results] == [TopicAction.CREATED] * len(specs)
    actual = await _configs(bootstrap, [s.name for s in specs])
    for spec in specs:
        got = actual[spec.name]
        assert got["partitions"] == str(spec.partitions), spec.name
        assert got["cleanup.policy"] == spec.cleanup.value, spec.name
        if spec.cleanup is Cleanup.DELETE:
            assert got["retention.ms"] == str(spec.retention_ms), spec.name
        assert got["min.insync.replicas"] == "1", spec.name


async def test_ensure_is_idempotent_and_restores_drifted_configs(
    bootstrap: str,
    specs: list[TopicSpec],
) -> None:
    await ensure_topics(bootstrap, specs=specs)
    again = await ensure_topics(bootstrap, specs=specs)
    assert {r.action for r in again} == {TopicAction.UNCHANGED}

    trades = next(s for s in specs if s.name.startswith("md.trades.v1."))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        drifted = {**trades.configs(1), "retention.ms": "1000"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, trades.name, drifted)])
    finally:
        await admin.close()
    # KRaft applies a config change to the broker's metadata image asynchronously: wait to see it.
    for _ in range(100):
        if (await _configs(bootstrap, [trades.name]))[trades.name]["retention.ms"] == "1000":
            break
        await asyncio.sleep(0.05)

    results = {r.name: r for r in await ensure_topics(bootstrap, specs=specs)}
    assert results[trades.name].action is TopicAction.UPDATED
    assert any("retention.ms: '1000'" in c for c in results[trades.name].changes)
    for _ in range(100):
        restored = (await _configs(bootstrap, [trades.name]))[trades.name]["retention.ms"]
        if restored == str(trades.retention_ms):
            break
        await asyncio.sleep(0.05)
    assert restored == str(trades.retention_ms)


async def test_a_topic_with_other_partitions_is_reported_not_repartitioned(
    bootstrap: str,
    specs: list[TopicSpec],
) -> None:
    prices = next(s for s in specs if s.name.startswith("md.prices.v1."))
    await ensure_topics(bootstrap, specs=[dataclasses.replace(prices, partitions=1)])

    with pytest.raises(TopicDriftError, match=r"has 1 partitions, declared 3"):
        await ensure_topics(bootstrap, specs=[prices])
    assert (await _configs(bootstrap, [prices.name]))[prices.name]["partitions"] == "1"
