"""`marketdata producer` and `marketdata processor` as real processes answer their probes: live
once their loop turns, ready once they do their job, and not ready when the exchange goes away."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.local import free_port
from schemas import topics as t
from simulator.config import SimulatorConfig
from simulator.server import running_simulator
from tests.faults.pipeline_harness import end_offsets
from tests.integration.processor_harness import ROOT, worker, write_config
from tests.integration.test_processors_kafka import make_trades, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_SECONDS = 90.0


async def wait_for(
    client: httpx.AsyncClient, path: str, code: int, alive: Any, seconds: float = START_SECONDS
) -> dict[str, Any]:
    """Poll `path` until it answers `code`; fail with the last answer (and the process's log)."""
    deadline = time.monotonic() + seconds
    last: str = "no answer"
    while time.monotonic() < deadline:
        assert alive(), f"the process exited; last answer: {last}"
        try:
            answer = await client.get(path)
        except httpx.TransportError as exc:
            last = repr(exc)
        else:
            last = f"{answer.status_code} {answer.text}"
            if answer.status_code == code:
                body: dict[str, Any] = answer.json()
                return body
        await asyncio.sleep(0.25)
    pytest.fail(f"{path} did not answer {code} within {seconds:g} s; last: {last}")


async def test_processor_worker_is_live_then_ready_once_it_joined_its_group(
    bootstrap: str, unique: Any, tmp_path: Path
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)  # this test may run first
    await publish(bootstrap, make_trades(unique("HEALTH/USD").split(".")[-1], seed=5)[:60])
    config = write_config(
        tmp_path / "config.yaml", bootstrap, unique("health").replace(".", "-") + "-v1"
    )
    port = free_port()
    with worker(config, tmp_path / "worker.log", metrics_port=port) as w:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            try:
                live = await wait_for(client, "/health/live", 200, w.alive)
                ready = await wait_for(client, "/health/ready", 200, w.alive)
                metrics = (await client.get("/metrics")).text
                caught_up = await trades_caught_up(client, bootstrap)
            except BaseException:
                print(w.tail())
                raise
        assert w.stop() == 0, w.tail()  # SIGTERM: the beating task ends with the app

    assert live["part"] == "processor"
    assert live["checks"]["event_loop"]["ok"]
    group = ready["checks"]["consumer_group"]
    assert group["ok"]
    generation, _, assigned = group["detail"].removeprefix("generation ").partition(": ")
    assert int(generation) >= 1  # a real member: -1 is "not joined yet"
    assert assigned.endswith("partitions assigned")
    assert 'marketdata_build_info{part="processor"' in metrics
    assert caught_up, "the worker's read offsets never reached md.trades.v1's end"


async def trades_caught_up(client: httpx.AsyncClient, bootstrap: str) -> bool:
    """The worker's `/metrics` shows where it stands on each md.trades.v1 partition: once it has
    read what the session broker holds (earlier tests wrote there), every partition's read
    offset is the broker's end offset minus one, and each is being fetched."""
    ends = {tp.partition: end for tp, end in (await end_offsets(bootstrap, (t.TRADES,))).items()}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = (await client.get("/metrics")).text
        read = partition_values(text, "marketdata_processor_partition_read_offset", t.TRADES.name)
        fetching = partition_values(text, "marketdata_processor_partition_fetching", t.TRADES.name)
        if fetching == dict.fromkeys(ends, 1.0) and all(
            read.get(p, -1.0) == end - 1 for p, end in ends.items() if end
        ):
            assert any(ends.values())  # the trades published above at least
            return True
        await asyncio.sleep(0.5)
    print(text)
    return False


def partition_values(metrics: str, name: str, topic: str) -> dict[int, float]:
    """`{partition: value}` of one per-partition gauge of one topic in an exposition."""
    out: dict[int, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("topic") == topic:
                out[int(sample.labels["partition"])] = sample.value
    return out


def producer_config(path: Path, bootstrap: str, urls: tuple[str, str, str]) -> Path:
    ws, ws_auth, rest = urls
    kraken = {
        "wsUrl": ws,
        "wsAuthUrl": ws_auth,
        "restUrl": rest,
        "symbols": ["BTC/USD"],
        "bookDepth": 10,
        "ohlcIntervals": [1],
        "connectTimeoutSeconds": 3,
        "backoff": {"initialSeconds": 0.1, "maxSeconds": 1},
    }
    doc = {
        "marketData": {"kafka": {"bootstrapServers": bootstrap}, "exchanges": {"kraken": kraken}}
    }
    path.write_text(yaml.safe_dump(doc), "utf-8")
    return path


async def test_producer_is_ready_while_connected_and_delivering_and_not_once_the_exchange_goes(
    bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "producer.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"KAFKA_BOOTSTRAP_SERVERS", "KRAKEN_API_KEY", "KRAKEN_SECRET"}
    }
    async with running_simulator(SimulatorConfig(events_per_second=50)) as sim:
        config = producer_config(
            tmp_path / "config.yaml", bootstrap, (sim.ws_url, sim.ws_auth_url, sim.rest_url)
        )
        argv = [sys.executable, "-m", "marketdata", "--config", str(config), "producer"]
        argv += ["--metrics-port", str(port)]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)
        try:
            alive = lambda: process.poll() is None  # noqa: E731
            live = await wait_for(client, "/health/live", 200, alive)
            ready = await wait_for(client, "/health/ready", 200, alive)
        except BaseException:
            print(log_path.read_text("utf-8", "replace")[-4000:])
            await client.aclose()
            process.kill()
            process.wait(10)
            raise
    try:
        # The simulator is gone: the session drops, the producer reconnects in vain.
        gone = await wait_for(client, "/health/ready", 503, lambda: process.poll() is None)
    finally:
        await client.aclose()
        process.terminate()
        code = process.wait(30)

    assert live["part"] == "producer"
    assert live["checks"]["event_loop"]["ok"]
    # Ready from the moment the session is up: the first ready answer may come before the
    # subscriptions are acknowledged.
    assert ready["checks"]["exchange_session"]["ok"]
    assert ready["checks"]["exchange_session"]["detail"] in {
        "kraken connected",
        "kraken subscribed",
    }
    assert ready["checks"]["kafka_delivery"]["ok"]
    assert "md.status.v1 records acknowledged" in ready["checks"]["kafka_delivery"]["detail"]
    session = gone["checks"]["exchange_session"]
    assert not session["ok"]
    assert session["detail"] != "kraken subscribed"
    assert gone["checks"]["event_loop"]["ok"]
    assert code == 0, log_path.read_text("utf-8", "replace")[-4000:]
