"""The pure parts of the local broker: its configuration, ids, ports and process checks."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from marketdata.kafka.local import (
    ClusterState,
    LocalKafka,
    NodeState,
    _new_cluster_id,
    _server_properties,
    free_port,
    is_our_broker,
    port_is_free,
    status,
    stop_cluster,
)
from marketdata.kafka.runtime import KafkaRuntime

C1_ONLY = "-XX:TieredStopAtLevel=1"


def _runtime(tmp_path: Path) -> KafkaRuntime:
    return KafkaRuntime("4.4.0", tmp_path, "a.jar:b.jar", tmp_path / "log4j2.yaml", 0.0)


def test_a_broker_runs_the_jvms_full_compilers_unless_asked_to_start_quick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KafkaRuntime, "java", property(lambda _self: "/usr/bin/java"))
    tiered = LocalKafka(_runtime(tmp_path), tmp_path)
    quick = LocalKafka(_runtime(tmp_path), tmp_path, jit="quick")

    broker = tiered._java("kafka.Kafka", "server.properties", heap_mb=512)
    assert C1_ONLY not in broker
    assert broker[-2:] == ["kafka.Kafka", "server.properties"]
    assert "-Xmx512m" in broker
    assert C1_ONLY in quick._java("kafka.Kafka", "server.properties", heap_mb=512)
    # Formatting storage is a one-shot tool: C1 only whatever the broker's mode.
    assert C1_ONLY in tiered._java("kafka.tools.StorageTool", "format", heap_mb=256, jit="quick")


def test_an_unknown_jit_mode_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jit must be one of tiered, quick, not 'c2'"):
        LocalKafka(_runtime(tmp_path), tmp_path, jit="c2")  # type: ignore[arg-type]


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_single_node_is_a_combined_kraft_node_with_replication_one(tmp_path: Path) -> None:
    props = _props(_server_properties(1, 19092, "1@127.0.0.1:19093", tmp_path, nodes=1))

    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["default.replication.factor"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == str(tmp_path)


def test_three_nodes_replicate_three_ways_with_two_in_sync(tmp_path: Path) -> None:
    voters = "1@127.0.0.1:1001,2@127.0.0.1:1002,3@127.0.0.1:1003"
    props = _props(_server_properties(2, 2092, voters, tmp_path, nodes=3))

    assert props["node.id"] == "2"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:2092,CONTROLLER://127.0.0.1:1002"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


def test_cluster_ids_never_start_with_a_dash() -> None:
    for _ in range(500):
        cid = _new_cluster_id()
        assert len(cid) == 22
        assert not cid.startswith("-")


def test_free_port_is_free_and_a_bound_port_is_not() -> None:
    port = free_port()
    assert port_is_free(port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not port_is_free(s.getsockname()[1])


def test_a_pid_that_is_not_our_broker_is_never_ours(tmp_path: Path) -> None:
    assert not is_our_broker(os.getpid(), tmp_path)  # alive, but not kafka.Kafka
    assert not is_our_broker(2**22 + 7, tmp_path)  # not alive


def test_stop_signals_nothing_when_recorded_pids_are_not_our_brokers(tmp_path: Path) -> None:
    state = ClusterState("4.4.0", "cid", "127.0.0.1:1", str(tmp_path), 0.0)
    state.nodes.append(NodeState(1, 1, 2, os.getpid(), "log", "data"))
    state.save(tmp_path)

    assert status(tmp_path)[1] == {1: False}
    assert stop_cluster(tmp_path) == []  # our own pid is recorded, but it is not a broker
    assert ClusterState.load(tmp_path) is None


def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    state = ClusterState("4.4.0", "cid", "127.0.0.1:9", str(tmp_path), 12.5)
    state.nodes.append(NodeState(1, 9, 10, 123, "/l", "/d"))
    state.save(tmp_path)
    assert ClusterState.load(tmp_path) == state
