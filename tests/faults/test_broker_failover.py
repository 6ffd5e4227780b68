"""Broker failure on a 3-broker cluster (RF 3, min.insync.replicas 2): kill -9 the broker that
leads the most partitions while the producer publishes. Leadership moves, the producer carries
on without a restart, and the topics prove it: per key, sequence numbers grow by exactly one (no
record lost, none repeated), and the trades are exactly the ones the simulator traded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas import topics
from schemas.models import Trade
from simulator.config import SimulatorConfig
from simulator.server import running_simulator
from tests.faults.broker_harness import (
    PRODUCED,
    Sequences,
    own_cluster,
    partitions_led,
    producing,
    read_all,
    restart,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD")
ACKED = "marketdata_producer_published_records_total"


async def test_a_leader_killed_mid_stream_costs_no_record_and_no_repeat(tmp_path: Path) -> None:
    async with (
        own_cluster(tmp_path / "kafka", nodes=3) as cluster,
        running_simulator(SimulatorConfig(events_per_second=300, symbols=SYMBOLS)) as sim,
    ):
        async with producing(cluster.bootstrap, sim, replicationFactor=3) as run:
            while run.per_topic(ACKED).get(topics.BOOK.name, 0) < 300:
                assert not run.task.done(), run.task
                await asyncio.sleep(0.2)
            led = await partitions_led(cluster.bootstrap, [t.name for t in PRODUCED])
            victim = max(led, key=lambda node: len(led[node]))
            acked_before = sum(run.per_topic(ACKED).values())
            killed_at_us = time.time_ns() // 1000
            cluster.kill_node(victim)  # SIGKILL: no controlled shutdown, no goodbye

            await asyncio.sleep(12)
            assert not run.task.done(), "the producer must ride out the failover"
            assert sum(run.per_topic(ACKED).values()) > acked_before + 1000
            await restart(cluster, victim, nodes=3)
            await asyncio.sleep(2)
        truth = {s: {f.trade_id: f for f in sim.exchange.model.recent_trades(s)} for s in SYMBOLS}
        instruments = {s: sim.exchange.model.spec(s) for s in SYMBOLS}
        seen = await read_all(cluster.bootstrap, PRODUCED)

    print(f"killed node {victim}, which led {len(led[victim])} partitions")
    accepted = run.per_topic("marketdata_producer_accepted_records_total")
    acked = run.per_topic(ACKED)
    assert not any(run.per_topic("marketdata_producer_shed_records_total").values())
    for spec in PRODUCED:
        records = seen[spec.name]
        sequences = Sequences.of(spec.name, records)
        # Everything published reached Kafka once: as many records as were published and
        # acknowledged, and per key the sequence numbers grow by exactly one.
        assert len(records) == accepted[spec.name] == acked[spec.name], spec.name
        assert sequences.not_increasing() == [], spec.name
        assert sequences.gaps() == {}, spec.name

    trades = [t for t in seen[topics.TRADES.name] if isinstance(t, Trade)]
    for symbol in SYMBOLS:
        mine = [t for t in trades if t.symbol == symbol]
        ids = [int(t.trade_id) for t in mine]
        # Every trade the simulator made while we listened, once and in order, with its content.
        assert ids == list(range(ids[0], ids[0] + len(ids))), symbol
        assert set(ids) <= set(truth[symbol]), symbol
        instrument = instruments[symbol]
        for t in mine:
            fill = truth[symbol][int(t.trade_id)]
            price, qty = instrument.price_precision, instrument.qty_precision
            assert t.price == round(fill.price / 10**price, price)
            assert t.qty == round(fill.qty / 10**qty, qty)
            assert t.side.value == fill.side
        # The pipeline carried on through the failover.
        assert any(t.received_ts > killed_at_us + 5_000_000 for t in mine), symbol
