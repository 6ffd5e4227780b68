"""The integer-tick book against a naive model, over random snapshot/update sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.core.orderbook import OrderBook

prices = st.integers(1, 400).map(lambda t: t / 10)  # precision 1
qtys = st.one_of(st.just(0.0), st.integers(1, 10**6).map(lambda n: n / 1000))  # precision 3
levels = st.lists(st.tuples(prices, qtys), max_size=30)


class Naive:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def apply(
        self, bids: list[tuple[float, float]], asks: list[tuple[float, float]], snapshot: bool
    ) -> None:
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        for side, items in ((self.bids, bids), (self.asks, asks)):
            for p, q in items:
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        for p in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[p]
        for p in sorted(self.asks)[self.depth :]:
            del self.asks[p]


@settings(max_examples=300)
@given(
    st.integers(1, 12), st.lists(st.tuples(st.booleans(), levels, levels), min_size=1, max_size=25)
)
def test_book_matches_a_naive_model(depth: int, steps: list[tuple[bool, list, list]]) -> None:
    book = OrderBook(depth, price_precision=1, qty_precision=3)
    naive = Naive(depth)
    for snapshot, bids, asks in steps:
        if snapshot:
            book.apply_snapshot(bids, asks)
        else:
            book.apply_update(bids, asks)
        naive.apply(bids, asks, snapshot)
        assert book.bids() == sorted(naive.bids.items(), reverse=True)
        assert book.asks() == sorted(naive.asks.items())
        assert len(book.bids()) <= depth
        assert len(book.asks()) <= depth


def test_deleting_an_unknown_level_is_ignored() -> None:
    book = OrderBook(5, 1, 3)
    book.apply_snapshot([(10.0, 1.0)], [(11.0, 1.0)])
    book.apply_update([(9.0, 0.0)], [(12.5, 0.0)])
    assert book.bids() == [(10.0, 1.0)]
    assert book.asks() == [(11.0, 1.0)]


def test_text_levels_are_exact_and_best_first() -> None:
    book = OrderBook(10, 2, 8)
    book.apply_snapshot([(99.5, 1.0), (100.25, 0.5)], [(100.5, 2.0), (101.0, 0.00000001)])
    asks, bids = book.text_levels()
    assert asks == [("100.50", "2.00000000"), ("101.00", "0.00000001")]
    assert bids == [("100.25", "0.50000000"), ("99.50", "1.00000000")]
    assert book.best_bid() == (100.25, 0.5)
    assert book.best_ask() == (100.5, 2.0)
    assert not book.crossed


@settings(max_examples=200)
@given(st.lists(st.tuples(st.booleans(), levels, levels), min_size=1, max_size=25))
def test_unit_tokens_equal_the_kraken_text_rule_and_top_version_tracks_the_top(
    steps: list[tuple[bool, list, list]],
) -> None:
    from producers.exchanges.kraken.checksum import checksum_token

    book = OrderBook(50, price_precision=1, qty_precision=3)
    for snapshot, bids, asks in steps:
        before_version, before_tokens = book.top_version, book.unit_tokens(10)
        (book.apply_snapshot if snapshot else book.apply_update)(bids, asks)
        asks_text, bids_text = book.text_levels(10)
        expected = "".join(checksum_token(p) + checksum_token(q) for p, q in asks_text + bids_text)
        assert book.unit_tokens(10) == expected
        if book.top_version == before_version:  # unchanged version promises an unchanged top 10
            assert book.unit_tokens(10) == before_tokens
