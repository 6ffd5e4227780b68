"""faust-streaming 0.15 + aiokafka 0.14 work against the Kafka version we pin (docs/kafka.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from marketdata.kafka.clients import make_consumer, make_producer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = ("kraken:BTC/USD", "kraken:ETH/USD", "kraken:SOL/USD")
PER_KEY = 100


async def test_faust_worker_counts_in_a_changelog_table_against_real_kafka(
    bootstrap: str,
    new_topic: Callable[..., object],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    source = await new_topic(unique("it.faust.in"), partitions=3)  # type: ignore[misc]
    sink = await new_topic(unique("it.faust.out"), partitions=1)  # type: ignore[misc]
    app_id = unique("smoke-v1")
    env = {
        **os.environ,
        "SMOKE_APP_ID": app_id,
        "SMOKE_BOOTSTRAP": bootstrap,
        "SMOKE_IN": str(source),
        "SMOKE_OUT": str(sink),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("faust_smoke_app.py")),
            "--datadir",
            str(tmp_path / "data"),
            "worker",
            "--loglevel",
            "warn",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        producer = make_producer(bootstrap)
        await producer.start()
        try:
            for i in range(PER_KEY * len(KEYS)):
                await producer.send(str(source), key=KEYS[i % 3].encode(), value=b"x")
            await producer.flush()
        finally:
            await producer.stop()

        finals: dict[str, int] = {}
        consumer = make_consumer(bootstrap, str(sink), group_id=unique("it.faust.reader"))
        await consumer.start()
        deadline = time.monotonic() + 120
        try:
            while any(finals.get(k, 0) < PER_KEY for k in KEYS):
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"counts so far: {finals}"
                for records in (await consumer.getmany(timeout_ms=1_000)).values():
                    for r in records:
                        key = r.key.decode()
                        finals[key] = max(finals.get(key, 0), int(r.value))
        finally:
            await consumer.stop()

        assert finals == dict.fromkeys(KEYS, PER_KEY)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            assert f"{app_id}-counts-changelog" in await admin.list_topics()
        finally:
            await admin.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
