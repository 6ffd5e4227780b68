"""A sustained storm of exchange faults (disconnects, stalls, corrupt checksums, skipped book
updates, malformed, truncated and oversized frames, duplicate trades, rate-limit answers,
refused connections) while the producer publishes to the session broker:

- every book state published to md.book.v1 is checksum-valid: a consumer that applies the
  published snapshots and deltas recomputes Kraken's CRC32 from the levels and the instrument's
  precisions after every record, and gets the checksum the record carries;
- every gap is reported on md.status.v1: each resync (a snapshot after the first) follows a
  report of the resync or of the disconnect, each hole in trade ids follows a report that
  explains it, and each injected book fault and disconnect is followed by its repair and report;
- the producer never exits, and after the storm everything is live again: subscribed, books and
  trades flowing for every symbol, and the book a consumer rebuilds equals the exchange's.

Set MARKETDATA_CHAOS_SEED to replay a failing storm.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from marketdata.config import MarketData, Settings
from marketdata.kafka.admin import ensure_topics
from producers.exchanges.kraken.adapter import kraken_adapter_factory
from producers.exchanges.kraken.checksum import book_checksum, format_decimal
from producers.runner import run_producer
from schemas import topics as t
from schemas.books import BookState, apply_update, top_of
from schemas.models import (
    BookUpdate,
    ConnectionState,
    ConnectionStatus,
    OrderBook,
    PriceLevel,
    Record,
    Trade,
)
from simulator.config import SimulatorConfig
from simulator.exchanges.kraken.ws import PUBLIC_PATH
from simulator.server import SimulatorHandle, running_simulator
from simulator.state import BookTruth
from tests.contract.producer.producer_harness import settings_for
from tests.faults.pipeline_harness import Fetched, by_key, end_offsets, read_from

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]

SYMBOLS = ("BTC/EUR", "ETH/BTC")  # published by no other test
KEYS = tuple(f"kraken:{s}" for s in SYMBOLS)
STORM_S = 35.0
TOPICS = (t.BOOK, t.TRADES, t.STATUS)
RECONNECT = {ConnectionState.DISCONNECTED, ConnectionState.RECONNECTING}
UP = {ConnectionState.CONNECTED, ConnectionState.SUBSCRIBED}


def storm_kinds(symbol: Callable[[], str]) -> list[str]:
    """Faults as `/_sim/faults` takes them; `+` joins faults armed together."""
    return [
        "drop",
        "drop+stall:1",  # the answers to the resubscription are lost
        "drop:1001",
        "stall:1",  # shorter than the silence timeout: frames are lost, the socket stays
        "stall:4",  # longer: the producer's watchdog recycles the socket
        "malformed",
        "truncated",
        "oversized:2",
        f"corrupt_checksum:{symbol()}",
        f"skip_book_update:{symbol()}",
        f"duplicate_trade:{symbol()}",
        "rate_limit:3+drop",  # the private reconnection asks REST for a token
        "http429:3+drop",
        "refuse:2+drop",  # the reconnection meets refusals
    ]


@dataclass(frozen=True, slots=True)
class Injected:
    at_us: int
    fault: str


async def storm(
    sim: SimulatorHandle, rng: random.Random, alive: Callable[[], None]
) -> list[Injected]:
    """Every kind of fault once, in a random order, then random ones, until STORM_S passed."""
    faults = storm_kinds(lambda: rng.choice(SYMBOLS))
    rng.shuffle(faults)
    injected: list[Injected] = []
    began = time.monotonic()
    while time.monotonic() - began < STORM_S:
        fault = faults.pop() if faults else rng.choice(storm_kinds(lambda: rng.choice(SYMBOLS)))
        injected.append(Injected(time.time_ns() // 1000, fault))
        for part in fault.split("+"):
            await sim.control.inject(part)
        alive()
        await asyncio.sleep(rng.uniform(0.5, 1.8))
    return injected


def crc_of(book: OrderBook) -> int:
    """Kraken's checksum of a book, from its levels and the instrument's precisions."""
    pp, qp = book.price_precision, book.size_precision

    def text(side: list[PriceLevel]) -> list[tuple[str, str]]:
        return [(format_decimal(lv.price, pp), format_decimal(lv.qty, qp)) for lv in side]

    return book_checksum(text(book.asks), text(book.bids))


def replay_books(records: list[Record]) -> tuple[OrderBook, list[BookUpdate]]:
    """Apply one symbol's published book records as a consumer does, checking the checksum
    after every one; the final book, and the snapshots after the first (the resyncs)."""
    updates = [r for r in records if isinstance(r, BookUpdate)]
    assert updates, "no book published"
    assert updates[0].is_snapshot, "a book must start with a snapshot"
    state: BookState | None = None
    resyncs: list[BookUpdate] = []
    for index, update in enumerate(updates):
        if update.is_snapshot and index:
            resyncs.append(update)
        state = apply_update(state, update)
        assert state is not None
        book = top_of(state, 10)
        assert crc_of(book) == update.checksum, (
            f"{update.symbol}: published book state #{index} is not checksum-valid: "
            f"{crc_of(book)} != {update.checksum}; {book}"
        )
    assert state is not None
    return top_of(state, 10), resyncs


def explains(status: ConnectionStatus, symbol: str, about: str) -> bool:
    """The public connection starting over (the private one carries no market data), or a
    report about this symbol naming what happened (`about`: "resync" for a book, "trade" for
    lost trades)."""
    if status.state is ConnectionState.CONNECTING and status.detail.endswith(PUBLIC_PATH):
        return True
    if status.symbol != symbol:
        return False
    if about == "resync":
        return status.state is ConnectionState.RESYNCING
    return about in status.detail


def reported(
    statuses: list[ConnectionStatus], since_us: int, until_us: int, symbol: str, about: str
) -> bool:
    """Whether md.status.v1 explains, within this time range, a gap in the symbol's data."""
    return any(
        since_us <= s.exchange_ts <= until_us and explains(s, symbol, about) for s in statuses
    )


async def test_a_storm_of_exchange_faults_leaves_books_valid_every_gap_reported_and_all_live(
    bootstrap: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("MARKETDATA_CHAOS_SEED") or random.randrange(1_000_000))
    print(f"storm (MARKETDATA_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    await ensure_topics(bootstrap, replication_factor=1)
    start = await end_offsets(bootstrap, TOPICS)
    registry = CollectorRegistry()
    config = SimulatorConfig(events_per_second=300, symbols=SYMBOLS, seed=seed % 1000)
    async with running_simulator(config) as sim:
        exchange = settings_for(sim, symbols=list(SYMBOLS), book_depth=10)
        settings = Settings(
            MarketData.model_validate({"exchanges": {"kraken": exchange.model_dump()}})
        )
        stop = asyncio.Event()
        producer = asyncio.create_task(
            run_producer(
                settings, "kraken", bootstrap, registry, kraken_adapter_factory(exchange), stop
            )
        )

        def alive() -> None:
            assert not producer.done(), f"the producer exited: {producer}"

        try:
            await asyncio.sleep(3)
            alive()
            injected = await storm(sim, rng, alive)
            calm_us = time.time_ns() // 1000
            await asyncio.sleep(6)  # the last stall and refusal end, the socket comes back
            alive()
            await sim.control.pause()
            pause_us = time.time_ns() // 1000
            await asyncio.sleep(2)  # what was sent before the pause reaches Kafka
            alive()
            state = await sim.control.state()
            truths = {s: await sim.control.book(s, 10) for s in SYMBOLS}
        finally:
            stop.set()
            await asyncio.wait_for(producer, 30)

    print(f"{len(injected)} faults: {[i.fault for i in injected]}")
    fired = {name: c.fired for name, c in state.faults.counts.items()}
    print(f"fired: {fired}; refused {state.connections_refused}; rest errors {state.rest_errors}")
    for kind in ("drop", "stall", "malformed", "truncated", "corrupt_checksum", "refuse"):
        assert fired[kind] > 0, f"the storm never met {kind}: {fired}"
    assert sum(state.rest_errors.values()) > 0, "no REST call met a rate limit"

    fetched = await read_from(bootstrap, start, (*KEYS, "kraken"))
    statuses = [
        r
        for r in by_key(fetched, t.STATUS.name).get("kraken", [])
        if isinstance(r, ConnectionStatus)
    ]
    check_books(fetched, statuses, injected, truths, calm_us)
    check_trades(fetched, statuses, calm_us)
    for drop in (i for i in injected if i.fault.startswith("drop")):
        assert any(s.exchange_ts >= drop.at_us and s.state in RECONNECT for s in statuses), drop
    before_pause = [s for s in statuses if s.exchange_ts < pause_us]
    assert before_pause[-1].state in UP, before_pause[-3:]


def check_books(
    fetched: list[Fetched],
    statuses: list[ConnectionStatus],
    injected: list[Injected],
    truths: dict[str, BookTruth],
    calm_us: int,
) -> None:
    books = by_key(fetched, t.BOOK.name)
    for symbol, key in zip(SYMBOLS, KEYS, strict=True):
        final, resyncs = replay_books(books[key])
        # Every resync was reported before it: as a resync, or as the connection starting over.
        updates = [r for r in books[key] if isinstance(r, BookUpdate)]
        previous = {id(b): a for a, b in itertools.pairwise(updates)}
        for snapshot in resyncs:
            since = previous[id(snapshot)].received_ts
            assert reported(statuses, since, snapshot.received_ts, symbol, "resync"), (
                f"{symbol}: an unreported resync at {snapshot.received_ts} (after {since})"
            )
        # Every injected book fault was repaired by a fresh snapshot.
        for fault in injected:
            name, _, target = fault.fault.partition(":")
            if name in ("corrupt_checksum", "skip_book_update") and target == symbol:
                assert any(r.received_ts > fault.at_us for r in resyncs), (
                    f"{fault} was not repaired by a fresh snapshot (last book record at "
                    f"{updates[-1].received_ts}): is the producer waiting for a snapshot that "
                    "was lost (the answers to a resubscription, while the exchange stalled)?"
                )
        assert resyncs, f"{symbol}: the storm never made the book resync"
        # Live again: the book a consumer rebuilds is the exchange's.
        assert updates[-1].received_ts > calm_us, (
            f"{symbol}: no book update after the storm: is the producer waiting for a snapshot "
            "that was lost (the answers to a resubscription, while the exchange stalled)?"
        )
        truth = truths[symbol]
        pp, qp = final.price_precision, final.size_precision
        mine = [
            [(round(v.price, pp), round(v.qty, qp)) for v in s] for s in (final.bids, final.asks)
        ]
        theirs = [[(round(p, pp), round(q, qp)) for p, q in s] for s in (truth.bids, truth.asks)]
        assert mine == theirs, f"{symbol}: rebuilt book differs from the exchange's"
        assert crc_of(final) == truth.checksum


def check_trades(fetched: list[Fetched], statuses: list[ConnectionStatus], calm_us: int) -> None:
    """No trade published twice, and every hole in trade ids reported: a disconnect before it,
    or a report naming the symbol's lost trades once the next trade showed the hole."""
    trades = by_key(fetched, t.TRADES.name)
    for symbol, key in zip(SYMBOLS, KEYS, strict=True):
        published = [r for r in trades[key] if isinstance(r, Trade)]
        ids = [int(r.trade_id) for r in published]
        assert ids == sorted(set(ids)), f"{symbol}: a trade was published twice or out of order"
        for a, b in itertools.pairwise(published):
            if int(b.trade_id) > int(a.trade_id) + 1:
                found = b.received_ts + 2_000_000  # the hole shows when the next trade arrives
                assert reported(statuses, a.received_ts, found, symbol, "trade"), (
                    f"{symbol}: trades {int(a.trade_id) + 1}..{int(b.trade_id) - 1} were lost "
                    f"between {a.received_ts} and {b.received_ts} and nothing reported it"
                )
        assert published[-1].received_ts > calm_us, f"{symbol}: no trade after the storm"
