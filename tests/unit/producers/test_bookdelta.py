"""Book deltas merged: a reader applying the merged delta ends with the book it would have had
applying each delta, truncation to the depth included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.core.bookdelta import merge
from producers.core.orderbook import OrderBook
from schemas.models import BookUpdate, PriceLevel

DEPTH = 5


def delta(bids: list[PriceLevel], asks: list[PriceLevel], seq: int = 0) -> BookUpdate:
    return BookUpdate(
        exchange="kraken", symbol="BTC/USD", is_snapshot=False, bids=bids, asks=asks,
        depth=DEPTH, exchange_ts=seq, received_ts=seq, checksum=seq, price_precision=1,
        size_precision=2, seq=seq,
    )  # fmt: skip


def published(book: OrderBook, bids: list[PriceLevel], asks: list[PriceLevel]) -> BookUpdate:
    """What the producer publishes for an exchange update: its levels, then the levels the
    update pushed past the depth, deleted (producers/exchanges/kraken/stream.py)."""
    book.apply_update(bids, asks)
    gone_bids, gone_asks = book.truncated()
    return delta(
        [*bids, *(PriceLevel(p, 0.0) for p in gone_bids)],
        [*asks, *(PriceLevel(p, 0.0) for p in gone_asks)],
    )


def test_the_later_quantity_of_a_level_wins_and_times_come_from_the_newer() -> None:
    a = delta([PriceLevel(100.0, 1.0), PriceLevel(99.0, 2.0)], [], seq=7)
    b = delta([PriceLevel(100.0, 0.0)], [PriceLevel(101.0, 3.0)], seq=8)
    m = merge(a, b)
    assert m.bids == [PriceLevel(99.0, 2.0), PriceLevel(100.0, 0.0)]
    assert m.asks == [PriceLevel(101.0, 3.0)]
    assert (m.seq, m.exchange_ts, m.checksum) == (7, 8, 8)


def test_snapshots_do_not_merge() -> None:
    snap = BookUpdate(
        exchange="kraken", symbol="BTC/USD", is_snapshot=True, bids=[], asks=[], depth=DEPTH,
        exchange_ts=1, received_ts=1,
    )  # fmt: skip
    with pytest.raises(ValueError, match="only deltas"):
        merge(snap, delta([], []))


def test_a_level_truncated_then_gone_at_the_venue_does_not_come_back() -> None:
    """The case merging exchange deltas alone gets wrong: 99 falls past the depth, is cancelled
    at the venue meanwhile (no message: out of scope), then the depth widens again."""
    producer, reader = OrderBook(2, 1, 2), OrderBook(2, 1, 2)
    start = [PriceLevel(100.0, 1.0), PriceLevel(99.0, 1.0)]
    producer.apply_snapshot(start, [])
    reader.apply_snapshot(start, [])
    first = published(producer, [PriceLevel(101.0, 1.0)], [])  # 99 truncated
    second = published(producer, [PriceLevel(101.0, 0.0), PriceLevel(98.0, 1.0)], [])
    m = merge(first, second)
    reader.apply_update(m.bids, m.asks)
    assert reader.bids() == producer.bids() == [(100.0, 1.0), (98.0, 1.0)]


prices = st.integers(min_value=900, max_value=1100).map(lambda t: t / 10)
levels = st.lists(
    st.builds(PriceLevel, prices, st.sampled_from([0.0, 0.0, 0.5, 1.25, 2.0])), max_size=4
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(levels, levels), min_size=1, max_size=25),
    st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=25),
)
def test_merged_runs_leave_the_reader_with_the_producers_book(
    updates: list[tuple[list[PriceLevel], list[PriceLevel]]], runs: list[int]
) -> None:
    producer, reader = OrderBook(DEPTH, 1, 2), OrderBook(DEPTH, 1, 2)
    seed_bids = [PriceLevel(99.0 - i / 10, 1.0) for i in range(DEPTH)]
    seed_asks = [PriceLevel(101.0 + i / 10, 1.0) for i in range(DEPTH)]
    producer.apply_snapshot(seed_bids, seed_asks)
    reader.apply_snapshot(seed_bids, seed_asks)
    deltas = [published(producer, bids, asks) for bids, asks in updates]
    final = (producer.bids(), producer.asks())
    at, sizes = 0, iter(runs * len(deltas))
    while at < len(deltas):
        run = deltas[at : at + next(sizes)]
        at += len(run)
        merged = run[0]
        for later in run[1:]:
            merged = merge(merged, later)
        reader.apply_update(merged.bids, merged.asks)  # a reader truncates too: a no-op here
    assert (reader.bids(), reader.asks()) == final
