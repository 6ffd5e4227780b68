"""Per-symbol Kraken book state: verified after every message, awaiting a snapshot after a
mismatch, never returning anything built on a corrupt book."""

from __future__ import annotations

import pytest

from producers.errors import ChecksumMismatch
from producers.exchanges.kraken.books import KrakenBooks
from schemas.models import PriceLevel
from tests.unit.producers.test_kraken_checksum_book import (
    SNAPSHOT_ASKS,
    SNAPSHOT_BIDS,
    UPDATE_ASKS,
    UPDATE_BIDS,
)


def test_published_vectors_verify_and_a_mismatch_awaits_a_snapshot() -> None:
    books = KrakenBooks(depth=10)
    assert books.apply("BTC/USD", True, SNAPSHOT_BIDS, SNAPSHOT_ASKS, 3310070434, 1, 8)
    assert books.apply("BTC/USD", False, UPDATE_BIDS, UPDATE_ASKS, 2663757915, 1, 8)

    with pytest.raises(ChecksumMismatch) as mismatch:
        books.apply("BTC/USD", False, [PriceLevel(45284.0, 1.0)], [], 12345, 1, 8)
    assert mismatch.value.symbol == "BTC/USD"
    assert books.book("BTC/USD") is None
    # Updates are ignored until the fresh snapshot, which is verified like any message.
    assert not books.apply("BTC/USD", False, UPDATE_BIDS, UPDATE_ASKS, 2663757915, 1, 8)
    assert books.apply("BTC/USD", True, SNAPSHOT_BIDS, SNAPSHOT_ASKS, 3310070434, 1, 8)


def test_a_new_subscription_waits_for_its_snapshot() -> None:
    books = KrakenBooks(depth=10)
    books.await_snapshot("ETH/USD")
    assert not books.apply("ETH/USD", False, [PriceLevel(1.0, 1.0)], [], None, 1, 8)
    assert books.apply("ETH/USD", True, [PriceLevel(1.0, 1.0)], [PriceLevel(2.0, 1.0)], None, 1, 8)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def doubling(misses: int) -> float:
    return 2.0 * 2**misses


def test_a_snapshot_later_than_its_deadline_is_overdue_and_each_miss_backs_off() -> None:
    clock = FakeClock()
    books = KrakenBooks(depth=10, clock=clock)
    books.await_snapshot("BTC/USD")

    clock.now += 1.9
    assert books.overdue(doubling) == []
    clock.now += 0.1
    assert books.overdue(doubling) == [("BTC/USD", pytest.approx(2.0))]
    # Asked again: the wait restarts, and the next deadline is twice as long.
    books.await_snapshot("BTC/USD")
    clock.now += 3.9
    assert books.overdue(doubling) == []
    clock.now += 0.1
    assert books.overdue(doubling) == [("BTC/USD", pytest.approx(4.0))]
    books.await_snapshot("BTC/USD")
    clock.now += 8.0
    assert [symbol for symbol, _ in books.overdue(doubling)] == ["BTC/USD"]


def test_the_snapshot_ends_the_wait_and_clears_the_misses() -> None:
    clock = FakeClock()
    books = KrakenBooks(depth=10, clock=clock)
    books.await_snapshot("BTC/USD")
    clock.now += 2.0
    assert books.overdue(doubling)
    books.await_snapshot("BTC/USD")

    assert books.apply("BTC/USD", True, SNAPSHOT_BIDS, SNAPSHOT_ASKS, 3310070434, 1, 8)
    clock.now += 60.0
    assert books.overdue(doubling) == []
    # A later wait (a checksum mismatch) starts from the first deadline again.
    with pytest.raises(ChecksumMismatch):
        books.apply("BTC/USD", False, [PriceLevel(45284.0, 1.0)], [], 12345, 1, 8)
    clock.now += 2.0
    assert books.overdue(doubling) == [("BTC/USD", pytest.approx(2.0))]


def test_an_unsubscribed_book_or_a_new_connection_awaits_nothing_overdue() -> None:
    clock = FakeClock()
    books = KrakenBooks(depth=10, clock=clock)
    books.await_snapshot("BTC/USD")
    books.await_snapshot("ETH/USD")
    books.drop("BTC/USD")
    clock.now += 10.0
    assert books.overdue(doubling) == [("ETH/USD", pytest.approx(10.0))]

    books.reset()  # the reconnect asks for every snapshot itself
    clock.now += 10.0
    assert books.overdue(doubling) == []
