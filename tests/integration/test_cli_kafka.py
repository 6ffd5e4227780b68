"""The commands a user runs: `kafka up`, `kafka status`, `kafka down`, `topics ensure`, `run`."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from marketdata.kafka.local import ClusterState
from marketdata.kafka.probe import describe_brokers

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def marketdata(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketdata", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _env_without_broker() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("MARKETDATA_CONFIG", None)
    return env


def test_kafka_up_status_down_leaves_no_process_and_no_port_behind(tmp_path: Path) -> None:
    state_dir = tmp_path / "kafka"
    env = _env_without_broker()

    up = marketdata("kafka", "up", "--state-dir", str(state_dir), env=env)
    assert up.returncode == 0, up.stderr
    bootstrap = up.stdout.strip().splitlines()[-1]
    state = ClusterState.load(state_dir.resolve())
    assert state is not None
    assert bootstrap == state.bootstrap
    pids = [n.pid for n in state.nodes]
    port = state.nodes[0].port
    try:
        assert asyncio.run(describe_brokers(bootstrap)) == [1]
        st = marketdata("kafka", "status", "--state-dir", str(state_dir), env=env)
        assert st.returncode == 0, st.stdout + st.stderr
        assert "answering" in st.stdout
        again = marketdata("kafka", "up", "--state-dir", str(state_dir), env=env)
        assert again.returncode == 1
        assert "already running" in again.stderr
    finally:
        down = marketdata("kafka", "down", "--state-dir", str(state_dir), env=env)
    assert down.returncode == 0, down.stderr
    assert "stopped Kafka" in down.stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "kafka.Kafka" not in Path(
            f"/proc/{pid}/cmdline"
        ).read_bytes().decode(errors="replace")
    assert not _port_open(port)
    assert marketdata("kafka", "status", "--state-dir", str(state_dir), env=env).returncode == 1


def test_kafka_down_without_a_broker_is_harmless(tmp_path: Path) -> None:
    down = marketdata("kafka", "down", "--state-dir", str(tmp_path), env=_env_without_broker())
    assert down.returncode == 0
    assert "no local Kafka running" in down.stdout


def test_topics_ensure_and_run_use_the_configured_broker(bootstrap: str, tmp_path: Path) -> None:
    env = {
        **_env_without_broker(),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MARKETDATA_KAFKA_STATE_DIR": str(tmp_path / "unused"),
    }

    first = marketdata("topics", "ensure", env=env)
    assert first.returncode == 0, first.stderr
    second = marketdata("topics", "ensure", env=env)
    assert second.returncode == 0, second.stderr
    assert all(line.startswith("unchanged") for line in second.stdout.splitlines())
    assert "md.trades.v1" in second.stdout

    run = marketdata("run", "--exit-when-ready", env=env)
    assert run.returncode == 0, run.stderr
    assert f"Kafka (configured): {bootstrap}" in run.stdout
    assert not (tmp_path / "unused").exists()  # nothing local was started


def test_a_configured_broker_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    env = {**_env_without_broker(), "KAFKA_BOOTSTRAP_SERVERS": dead}
    up = marketdata("kafka", "up", "--timeout", "2", env=env)
    assert up.returncode == 1
    assert dead in up.stderr
