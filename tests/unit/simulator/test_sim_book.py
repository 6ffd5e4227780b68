"""The order book data structure: sorted best-first, exact integer levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.book import BookSide, OrderBook

levels = st.lists(st.tuples(st.integers(1, 500), st.integers(0, 50)), min_size=1, max_size=200)


@given(levels)
def test_sides_stay_sorted_best_first_and_match_a_dict(ops: list[tuple[int, int]]) -> None:
    bids, asks = BookSide("bid"), BookSide("ask")
    reference: dict[int, int] = {}
    for price, qty in ops:
        bids.set(price, qty)
        asks.set(price, qty)
        if qty:
            reference[price] = qty
        else:
            reference.pop(price, None)
    assert bids.top(10_000) == sorted(reference.items(), reverse=True)
    assert asks.top(10_000) == sorted(reference.items())
    assert len(bids) == len(asks) == len(reference)
    for price in reference:
        assert bids.price_at(bids.rank(price)) == price
        assert asks.price_at(asks.rank(price)) == price


def test_set_returns_previous_qty_and_zero_deletes() -> None:
    side = BookSide("ask")
    assert side.set(100, 5) == 0
    assert side.set(100, 7) == 5
    assert side.set(100, 0) == 7
    assert 100 not in side
    assert side.set(100, 0) == 0  # deleting an unknown level is a no-op


def test_best_worst_and_ordering_helpers() -> None:
    side = BookSide("bid")
    for price in (10, 30, 20):
        side.set(price, 1)
    assert (side.best(), side.worst()) == (30, 10)
    assert side.at_least_as_good(30, 20)
    assert not side.at_least_as_good(10, 20)
    assert side.between(1, 3) == [(20, 1), (10, 1)]


@pytest.mark.parametrize(("price", "qty"), [(0, 1), (-1, 1), (5, -1)])
def test_invalid_levels_are_refused(price: int, qty: int) -> None:
    with pytest.raises(ValueError, match="invalid level"):
        BookSide("bid").set(price, qty)


def test_crossed_and_mid() -> None:
    book = OrderBook("BTC/USD")
    assert book.mid() is None
    book.bids.set(99, 1)
    book.asks.set(101, 1)
    assert not book.is_crossed()
    assert book.mid() == 100
    book.bids.set(101, 1)
    assert book.is_crossed()
