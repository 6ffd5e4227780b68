"""Whole-broker outage on one node: Kafka is stopped (SIGTERM, a controlled shutdown) for several
seconds and restarted on the same data and port while the producer publishes.

The producer does not exit: it buffers within its bound (kept small here so the policy acts),
reports the outage while it lasts (metrics) and when it ends (md.status.v1), and resumes. The
topics then show exactly what the policy says and reports: facts complete (trades equal the
simulator's), every other gap counted, each book gap followed by a fresh snapshot. The query
API, reading its tables from the same broker, answers the cached price marked stale throughout
and serves a fresh one once Kafka is back, by itself.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry

from marketdata.config import MarketData, Settings
from marketdata.kafka.admin import ensure_topics
from marketdata.kafka.local import LocalKafka
from query_api.app import create_app
from query_api.readmodel.feed import Feed
from query_api.state import ApiState
from schemas import topics
from schemas.models import BookUpdate, ConnectionStatus, Trade
from simulator.config import SimulatorConfig
from simulator.server import running_simulator
from tests.faults.broker_harness import (
    FACTS,
    PRODUCED,
    ProducerRun,
    Sequences,
    own_cluster,
    producing,
    read_all,
    restart,
    wait_stopped,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD")
DOWN_SECONDS = 8.0
POLICY = {  # room for the start-up backfill, not for an 8 s outage at this rate
    "bufferMaxRecords": 3000,
    # A record per book delta and per raw frame, so the outage fills the bound and every
    # shedding rule acts. By default deltas merge and frames batch while they wait, and an
    # outage this short sheds nothing (test_default_producer_rides_out_the_outage_shedding_nothing).
    "mergeWhileWaiting": False,
    "outageAfterSeconds": 1,
    "requestTimeoutMs": 4000,  # shorter than the outage: aiokafka's leaderless batches expire
}
SHED = "marketdata_producer_shed_records_total"


async def until(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def answered(http: AsyncTestClient[Litestar]) -> dict[str, object] | None:
    """The API's BTC/USD price answer; None while it has none (the processors are not part of
    this test: the API moves its prices on the producer's tickers and trades itself)."""
    response = await http.get("/api/prices/BTC-USD")
    if response.status_code != 200:
        return None
    body: dict[str, object] = response.json()
    return body


def reported_shed(detail: str) -> Counter[tuple[str, str]]:
    """`shed 812 (md.book.v1 book_resync 400, md.raw.v1 audit 412)` → counts by topic, reason."""
    listed = re.search(r"shed \d+ \(([^)]*)\)", detail)
    assert listed is not None, detail
    out: Counter[tuple[str, str]] = Counter()
    for item in re.findall(r"(md\.\S+) (\w+) (\d+)", listed.group(1)):
        out[(item[0], item[1])] = int(item[2])
    return out


def shed_by(run: ProducerRun) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for metric in run.registry.collect():
        for s in metric.samples:
            if s.name == SHED and s.value:
                out[(s.labels["topic"], s.labels["reason"])] += int(s.value)
    return out


async def test_a_stopped_broker_is_ridden_out_reported_and_repaired(tmp_path: Path) -> None:
    async with (
        own_cluster(tmp_path / "kafka", nodes=1) as cluster,
        running_simulator(SimulatorConfig(events_per_second=400, symbols=SYMBOLS)) as sim,
    ):
        bootstrap = cluster.bootstrap
        await ensure_topics(bootstrap)
        api = ApiState(Settings(MarketData()), registry=CollectorRegistry())
        api.feed = Feed(bootstrap, api.model, api.hub.publish, api.registry)
        async with (
            AsyncTestClient(create_app(api)) as http,
            producing(bootstrap, sim, {"raw_batch_ms": 0}, producer=POLICY) as run,
        ):
            before = await _until_fresh(http)
            assert before["stale"] is False
            stopped_at = await _stop_the_broker_while_books_flow(cluster, run)
            during = await _until_stale(http)
            assert during["data"] == (await answered(http) or {}).get("data"), "no new price"
            await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - stopped_at)))
            assert run.metric("marketdata_producer_buffered_records") > 0
            assert not run.task.done(), "the producer rides out the outage"

            await restart(cluster, 1, nodes=1)
            restarted_at_us = time.time_ns() // 1000
            await until(lambda: run.metric("marketdata_producer_kafka_up") == 1, "recovery", 60)
            after = await _until_fresh(http)
            assert after["stale"] is False, "fresh again, without a restart"
            await asyncio.sleep(3)
            assert not run.task.done()
        truth = {s: {f.trade_id: f for f in sim.exchange.model.recent_trades(s)} for s in SYMBOLS}
        seen = await read_all(bootstrap, PRODUCED)

    assert run.metric("marketdata_producer_kafka_outages_total") >= 1
    restarts = run.metric("marketdata_producer_kafka_client_restarts_total")
    print(f"Kafka clients replaced after wedging: {restarts:g}")

    # The outage reports on md.status.v1, and the metrics, tell the same losses.
    statuses = [s for s in seen[topics.STATUS.name] if isinstance(s, ConnectionStatus)]
    reports = [s.detail for s in statuses if s.detail.startswith("kafka outage:")]
    print("\n".join(reports))
    assert reports
    report = "\n".join(reports)
    metric_shed = shed_by(run)
    reported = sum((reported_shed(r) for r in reports), Counter[tuple[str, str]]())
    assert reported, "the bound was reached: something was shed"
    for (topic, reason), n in metric_shed.items():
        if reason != "awaiting_snapshot":  # book updates dropped after the report, until the
            assert reported[(topic, reason)] == n, (topic, reason)  # fresh snapshot came

    accepted = run.per_topic("marketdata_producer_accepted_records_total")
    for spec in PRODUCED:
        sequences = Sequences.of(spec.name, seen[spec.name])
        shed = sum(n for (topic, _), n in metric_shed.items() if topic == spec.name)
        assert sequences.not_increasing() == [], spec.name  # never a repeat
        assert sequences.count + shed == accepted[spec.name], spec.name  # nothing else lost
        assert sequences.missing() <= shed, spec.name
        if spec in FACTS:
            assert shed == 0, spec.name
            assert sequences.gaps() == {}, spec.name

    # Each book gap is followed by a snapshot: a reader never applies a delta to a hole.
    books = Sequences.of(topics.BOOK.name, seen[topics.BOOK.name])
    for symbol, at in books.gaps().items():
        assert all(books.by_key[symbol][i].is_snapshot for i in at), symbol  # type: ignore[attr-defined]
        assert symbol in report, symbol
    assert all(
        any(b.received_ts > restarted_at_us for b in updates if isinstance(b, BookUpdate))
        for updates in books.by_key.values()
    ), "books are live again"

    trades = [t for t in seen[topics.TRADES.name] if isinstance(t, Trade)]
    for symbol in SYMBOLS:
        mine = [t for t in trades if t.symbol == symbol]
        ids = [int(t.trade_id) for t in mine]
        assert ids == list(range(ids[0], ids[0] + len(ids))), symbol  # none lost at the source
        assert set(ids) <= set(truth[symbol]), symbol
        assert any(t.received_ts > restarted_at_us for t in mine), symbol


async def _stop_the_broker_while_books_flow(cluster: LocalKafka, run: ProducerRun) -> float:
    """SIGTERM the one broker once books flow; when it stopped (monotonic)."""
    published = "marketdata_producer_published_records_total"
    await until(lambda: run.per_topic(published).get(topics.BOOK.name, 0) > 200, "books flowing")
    cluster.kill_node(1, signal.SIGTERM)
    stopped_at = time.monotonic()
    await wait_stopped(cluster, 1)
    await until(lambda: run.metric("marketdata_producer_kafka_up") == 0, "outage metric")
    return stopped_at


async def _until_fresh(http: AsyncTestClient[Litestar]) -> dict[str, object]:
    """The API's answer once it shows a fresh price (the producer's tickers, within the price
    TTL of 1 s); the last answer is returned, fresh or not."""
    deadline = time.monotonic() + 30
    body: dict[str, object] | None = None
    while time.monotonic() < deadline:
        body = await answered(http)
        if body is not None and body["stale"] is False:
            return body
        await asyncio.sleep(0.05)
    if body is None:
        raise AssertionError("the API never answered a price")
    return body


async def _until_stale(http: AsyncTestClient[Litestar]) -> dict[str, object]:
    """With the broker down no ticker arrives: the API keeps answering its cached price, which
    turns stale once older than its TTL."""
    deadline = time.monotonic() + 10
    while True:
        body = await answered(http)
        assert body is not None, "the API keeps answering the cached price"
        if body["stale"] is True:
            return body
        assert time.monotonic() < deadline, f"the cached price never turned stale: {body}"
        await asyncio.sleep(0.1)


async def test_default_producer_rides_out_the_outage_shedding_nothing(tmp_path: Path) -> None:
    """The same outage and bound with the defaults: while records wait, a book's deltas merge
    into one and raw frames batch, so the backlog stays far inside its bound. Nothing is shed:
    every topic's sequence numbers run on without a gap, and no book needs a resync."""
    async with (
        own_cluster(tmp_path / "kafka", nodes=1) as cluster,
        running_simulator(SimulatorConfig(events_per_second=400, symbols=SYMBOLS)) as sim,
    ):
        bootstrap = cluster.bootstrap
        await ensure_topics(bootstrap)
        policy = {k: v for k, v in POLICY.items() if k != "mergeWhileWaiting"}
        async with producing(bootstrap, sim, producer=policy) as run:
            stopped_at = await _stop_the_broker_while_books_flow(cluster, run)
            await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - stopped_at)))
            assert run.metric("marketdata_producer_buffered_records") > 0
            await restart(cluster, 1, nodes=1)
            await until(lambda: run.metric("marketdata_producer_kafka_up") == 1, "recovery", 60)
            await asyncio.sleep(3)
            merged = run.per_topic("marketdata_producer_merged_records_total").get(topics.BOOK.name)
        seen = await read_all(bootstrap, PRODUCED)

    assert shed_by(run) == Counter(), "nothing shed"
    assert merged, "book deltas merged while Kafka was away"
    for spec in PRODUCED:
        sequences = Sequences.of(spec.name, seen[spec.name])
        assert sequences.not_increasing() == [], spec.name
        assert sequences.gaps() == {}, spec.name
    books = [b for b in seen[topics.BOOK.name] if isinstance(b, BookUpdate)]
    for symbol in SYMBOLS:
        snapshots = [b for b in books if b.symbol == symbol and b.is_snapshot]
        assert len(snapshots) == 1, f"{symbol}: resynced ({len(snapshots)} snapshots)"
