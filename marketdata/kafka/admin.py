"""`topics ensure`: make the broker's topics match `schemas.topics`, idempotently.

Missing topics are created with their partitions, replication and configs. Existing topics keep
their data: configs that drifted are set back (AlterConfigs with the declared set); a partition
count that differs is reported as an error, never "fixed", because repartitioning a keyed topic
breaks per-key ordering and co-partitioning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.topics import ALL, TopicSpec

_TOPIC_ALREADY_EXISTS: Final = 36


class TopicAction(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


@dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    action: TopicAction
    changes: tuple[str, ...] = ()


class TopicDriftError(RuntimeError):
    """An existing topic differs from its declaration in a way we must not change automatically."""


async def ensure_topics(
    bootstrap: str,
    *,
    replication_factor: int = 1,
    specs: Sequence[TopicSpec] = ALL,
    client_id: str = "marketdata-admin",
) -> list[TopicResult]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        return await _ensure(admin, specs, replication_factor)
    finally:
        await admin.close()


async def _ensure(
    admin: AIOKafkaAdminClient,
    specs: Sequence[TopicSpec],
    rf: int,
) -> list[TopicResult]:
    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    results: dict[str, TopicResult] = {}
    if missing:
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, rf, topic_configs=s.configs(rf)) for s in missing]
        )
        for name, code, message in response.topic_errors:
            if code == _TOPIC_ALREADY_EXISTS:
                # Another process won the race, or the metadata we listed was stale: check it below.
                existing.add(name)
            elif code != 0:
                raise TopicDriftError(f"creating {name} failed: error {code}: {message}")
            else:
                results[name] = TopicResult(name, TopicAction.CREATED)
        await _wait_visible(admin, list(results))

    present = [s for s in specs if s.name in existing]
    if present:
        await _check_partitions(admin, present)
        for spec, changes in await _config_drift(admin, present, rf):
            if changes:
                await admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, spec.name, spec.configs(rf))]
                )
                results[spec.name] = TopicResult(spec.name, TopicAction.UPDATED, tuple(changes))
            else:
                results[spec.name] = TopicResult(spec.name, TopicAction.UNCHANGED)
    return [results[s.name] for s in specs]


async def _wait_visible(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30) -> None:
    """Return once every broker's metadata shows the new topics with all their partitions led.

    CreateTopics answers before the metadata has reached every broker; a caller that produces or
    describes right away would otherwise see UNKNOWN_TOPIC_OR_PARTITION.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    pending = list(names)
    while pending:
        described: list[dict[str, Any]] = await admin.describe_topics(pending)
        pending = [
            d["topic"]
            for d in described
            if d["error_code"] != 0
            or not d["partitions"]
            or any(p["leader"] < 0 for p in d["partitions"])
        ]
        if pending and asyncio.get_running_loop().time() > deadline:
            raise TopicDriftError(f"topics not visible after {timeout}s: {pending}")
        if pending:
            await asyncio.sleep(0.1)


async def _check_partitions(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    described: list[dict[str, Any]] = await admin.describe_topics([s.name for s in specs])
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    wrong = [
        f"{s.name} has {counts.get(s.name)} partitions, declared {s.partitions}"
        for s in specs
        if counts.get(s.name) != s.partitions
    ]
    if wrong:
        raise TopicDriftError(
            "; ".join(wrong) + " (keyed topics are never repartitioned automatically: "
            "per-key order and co-partitioning would break; see docs/kafka.md)"
        )


async def _config_drift(
    admin: AIOKafkaAdminClient,
    specs: Sequence[TopicSpec],
    rf: int,
) -> Iterable[tuple[TopicSpec, list[str]]]:
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs]
    )
    actual: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            actual[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in resource["config_entries"]
            }
    out = []
    for spec in specs:
        have = actual.get(spec.name, {})
        changes = [
            f"{key}: {have.get(key)!r} -> {want!r}"
            for key, want in spec.configs(rf).items()
            if have.get(key) != want
        ]
        out.append((spec, changes))
    return out
