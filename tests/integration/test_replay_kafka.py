"""`marketdata replay` against a real broker: the frames a real producer kept in md.raw.v1, run
through the parse layer again, give exactly the trades it published; a trade published
differently is found and named."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.clients import make_consumer, make_producer
from producers.replay import read_topic
from schemas import topics as t
from schemas.codec import Codec
from schemas.models import Trade
from simulator.config import SimulatorConfig
from simulator.server import running_simulator
from tests.integration.processor_harness import ROOT
from tests.integration.test_part_health import producer_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def marketdata(config: Path, *argv: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"KAFKA_BOOTSTRAP_SERVERS", "KRAKEN_API_KEY", "KRAKEN_SECRET"}
    }
    argv_ = [sys.executable, "-m", "marketdata", "--config", str(config), *argv]
    if log is None:
        return subprocess.Popen(
            argv_, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(argv_, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def replay(config: Path, since: str, out: Path) -> tuple[int, str]:
    process = marketdata(config, "replay", "--since", since, "--verify", "--out", str(out))
    output, _ = process.communicate(timeout=120)
    return process.returncode, output.decode("utf-8", "replace")


async def test_replayed_frames_give_the_trades_the_producer_published(
    bootstrap: str, tmp_path: Path
) -> None:
    await ensure_topics(bootstrap, replication_factor=1)
    since = datetime.now(UTC).isoformat()
    async with running_simulator(SimulatorConfig(events_per_second=200)) as sim:
        config = producer_config(
            tmp_path / "config.yaml", bootstrap, (sim.ws_url, sim.ws_auth_url, sim.rest_url)
        )
        producer = marketdata(config, "producer", log=tmp_path / "producer.log")
        await asyncio.sleep(8)
        producer.send_signal(signal.SIGTERM)  # its raw batches are drained on the way out
        assert await asyncio.to_thread(producer.wait, 30) == 0, (
            tmp_path / "producer.log"
        ).read_text()[-3000:]

    code, output = await asyncio.to_thread(replay, config, since, tmp_path / "replayed.jsonl")
    print(output)
    assert code == 0, output
    assert "0 missing there, 0 different there, 0 there but not replayed" in output, output
    assert "book checksum mismatches: 0" in output, output
    lines = [json.loads(line) for line in (tmp_path / "replayed.jsonl").read_text().splitlines()]
    replayed = [msgspec.convert(d["record"], Trade) for d in lines if d["topic"] == t.TRADES.name]
    assert len(replayed) >= 20, output
    assert {d["topic"] for d in lines} >= {t.TICKER.name, t.TRADES.name, t.BOOK.name}
    compared = int(output.split("trades checked against md.trades.v1: ")[1].split()[0])
    assert compared == len(replayed)

    # A window that begins mid-connection: the instruments (precisions) come from before it,
    # books wait for their next snapshot, and the trades in it still match exactly.
    middle = replayed[len(replayed) // 2]
    mid = datetime.fromtimestamp(middle.received_ts / 1e6, UTC).isoformat()
    code, output = await asyncio.to_thread(replay, config, mid, tmp_path / "middle.jsonl")
    print(output)
    assert code == 0, output
    assert "0 missing there, 0 different there, 0 there but not replayed" in output, output
    assert "book checksum mismatches: 0" in output, output
    later = int(output.split("trades checked against md.trades.v1: ")[1].split()[0])
    assert 0 < later < len(replayed)

    # A trade published again with another price: the check names it and fails.
    forged = msgspec.structs.replace(replayed[len(replayed) // 2], price=1.0)
    kafka = make_producer(bootstrap)
    await kafka.start()
    try:
        await kafka.send_and_wait(
            t.TRADES.name,
            Codec().encode(forged),
            key=f"kraken:{forged.symbol}".encode(),
            timestamp_ms=time.time_ns() // 1_000_000,
        )
    finally:
        await kafka.stop()
    code, output = await asyncio.to_thread(replay, config, since, tmp_path / "again.jsonl")
    assert code == 1, output
    assert f"different: {forged.symbol} trade {forged.trade_id}" in output, output
    assert "DIFFERENCES FOUND" in output


async def test_a_record_stamped_ahead_does_not_hide_the_ones_written_after_it(
    bootstrap: str,
) -> None:
    """md.trades.v1 is stamped with exchange time, which is not write order: a record stamped
    ten minutes ahead (a skewed exchange clock; the broker takes up to an hour ahead) that sits
    before the window's trades in their partition must not end the verify read early."""
    spec = replace(t.TRADES, name=f"test.replay.order.{time.time_ns()}", partitions=1)
    await ensure_topics(bootstrap, specs=[spec])
    now_ms = time.time_ns() // 1_000_000
    kafka = make_producer(bootstrap)
    await kafka.start()
    try:
        for value, stamp in ((b"ahead", now_ms + 600_000), (b"in-window", now_ms)):
            await kafka.send_and_wait(spec.name, value, key=b"k", timestamp_ms=stamp)
    finally:
        await kafka.stop()
    consumer = make_consumer(bootstrap, group_id=None)
    await consumer.start()
    try:
        since_us, until_us, slack_us = (now_ms - 1000) * 1000, (now_ms + 1000) * 1000, 60_000_000
        as_trades = [v async for v in read_topic(consumer, spec, since_us, None, slack_us=slack_us)]
        # stamped in write order (md.raw.v1), a record past the window ends the partition
        as_raw = [
            v async for v in read_topic(consumer, spec, since_us, until_us, slack_us=slack_us)
        ]
    finally:
        await consumer.stop()
    assert as_trades == [b"ahead", b"in-window"]
    assert as_raw == []
