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
