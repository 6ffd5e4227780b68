"""The integer-tick book against a plain reference book, over random snapshot/update sequences.

The reference keeps each side as a price -> size dict, applies every level in order and truncates
by sorting the whole side: slow and obviously right. The optimised book (negated bid keys, bisect
lists, pop-off-the-end truncation, cached checksum tokens, the top-window version) must agree with
it after every message, levels, decimal text and Kraken's checksum string alike.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.core.orderbook import OrderBook
from producers.exchanges.kraken.checksum import book_checksum, checksum_token, crc32_text
from schemas.models import PriceLevel

# Narrow price ranges so levels collide, are deleted and re-added, and cross the top-10 window.
prices = st.integers(1, 60).map(lambda t: t / 10)  # precision 1
qtys = st.one_of(st.just(0.0), st.integers(1, 10**6).map(lambda n: n / 1000))  # precision 3
levels = st.lists(st.builds(PriceLevel, prices, qtys), max_size=30)
steps = st.lists(st.tuples(st.booleans(), levels, levels), min_size=1, max_size=40)


class Reference:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def apply(self, bids: list[PriceLevel], asks: list[PriceLevel], snapshot: bool) -> None:
        if snapshot:
            self.bids.clear()
            self.asks.clear()
        for side, items in ((self.bids, bids), (self.asks, asks)):
            for lv in items:
                if lv.qty == 0:
                    side.pop(lv.price, None)
                else:
                    side[lv.price] = lv.qty
        for p in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[p]
        for p in sorted(self.asks)[self.depth :]:
            del self.asks[p]

    def best_bids(self) -> list[tuple[float, float]]:
        return sorted(self.bids.items(), reverse=True)

    def best_asks(self) -> list[tuple[float, float]]:
        return sorted(self.asks.items())

    def text(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        def fmt(levels: list[tuple[float, float]]) -> list[tuple[str, str]]:
            return [(f"{p:.1f}", f"{q:.3f}") for p, q in levels[:10]]

        return fmt(self.best_asks()), fmt(self.best_bids())


def _apply(book: OrderBook, snapshot: bool, bids: list[PriceLevel], asks: list[PriceLevel]) -> None:
    (book.apply_snapshot if snapshot else book.apply_update)(bids, asks)


@settings(max_examples=400)
@given(st.integers(1, 14), steps)
def test_book_matches_the_reference_after_every_message(
    depth: int, messages: list[tuple[bool, list[PriceLevel], list[PriceLevel]]]
) -> None:
    book = OrderBook(depth, price_precision=1, qty_precision=3)
    reference = Reference(depth)
    for snapshot, bids, asks in messages:
        _apply(book, snapshot, bids, asks)
        reference.apply(bids, asks, snapshot)
        assert book.bids() == reference.best_bids()
        assert book.asks() == reference.best_asks()
        assert book.bids(3) == reference.best_bids()[:3]
        assert book.asks(3) == reference.best_asks()[:3]
        assert book.text_levels(10) == reference.text()
        assert len(book) == len(reference.bids) + len(reference.asks)


@settings(max_examples=400)
@given(st.integers(1, 14), steps)
def test_cached_checksum_tokens_equal_kraken_text_rule_and_the_version_tracks_the_top(
    depth: int, messages: list[tuple[bool, list[PriceLevel], list[PriceLevel]]]
) -> None:
    book = OrderBook(depth, price_precision=1, qty_precision=3)
    reference = Reference(depth)
    for snapshot, bids, asks in messages:
        before_version, before_tokens = book.top_version, book.unit_tokens(10)
        _apply(book, snapshot, bids, asks)
        reference.apply(bids, asks, snapshot)
        asks_text, bids_text = reference.text()
        expected = "".join(checksum_token(p) + checksum_token(q) for p, q in asks_text + bids_text)
        assert book.unit_tokens(10) == expected
        assert book.unit_tokens(4) == "".join(
            checksum_token(p) + checksum_token(q) for p, q in asks_text[:4] + bids_text[:4]
        )
        assert crc32_text(book.unit_tokens(10)) == book_checksum(asks_text, bids_text)
        if book.top_version == before_version:  # unchanged version promises an unchanged top 10
            assert expected == before_tokens


def test_a_level_changed_while_outside_the_top_shows_its_new_size_when_it_scrolls_back() -> None:
    # Guards the per-level token cache: a cached top level pushed deeper, resized there (a change
    # behind the window does not invalidate the window) and then back in the window.
    book = OrderBook(50, price_precision=1, qty_precision=3)
    book.apply_snapshot([PriceLevel(float(p), 1.0) for p in range(1, 11)], [])
    assert book.unit_tokens(10).startswith("1001000")  # best bid 10.0 x 1.000
    book.apply_update([PriceLevel(p / 10, 1.0) for p in range(101, 111)], [])  # 10.1 .. 11.0
    book.apply_update([PriceLevel(10.0, 7.0)], [])  # now 11th best: outside the window
    book.apply_update([PriceLevel(p / 10, 0.0) for p in range(101, 111)], [])
    assert book.bids(1) == [(10.0, 7.0)]
    assert book.unit_tokens(10).startswith("1007000")


def test_a_change_at_the_tenth_level_is_a_top_change_and_the_eleventh_is_not() -> None:
    book = OrderBook(50, price_precision=1, qty_precision=3)
    book.apply_snapshot(
        [PriceLevel(float(p), 1.0) for p in range(1, 21)],  # best bid 20.0, tenth 11.0
        [PriceLevel(float(p), 1.0) for p in range(30, 50)],  # best ask 30.0, tenth 39.0
    )
    tokens = book.unit_tokens(10)
    for bids, asks in (
        ([PriceLevel(10.0, 2.0)], []),
        ([], [PriceLevel(40.0, 2.0)]),
        ([PriceLevel(10.5, 2.0)], [PriceLevel(39.5, 2.0)]),
    ):
        version = book.top_version
        book.apply_update(bids, asks)
        assert (book.top_version, book.unit_tokens(10)) == (version, tokens)
    book.apply_update([PriceLevel(11.0, 2.0)], [])
    assert book.unit_tokens(10).endswith("1102000")
    book.apply_update([], [PriceLevel(39.0, 3.0)])
    assert "3903000" in book.unit_tokens(10)


def test_deleting_an_unknown_level_is_ignored() -> None:
    book = OrderBook(5, 1, 3)
    book.apply_snapshot([PriceLevel(10.0, 1.0)], [PriceLevel(11.0, 1.0)])
    version = book.top_version
    book.apply_update([PriceLevel(9.0, 0.0)], [PriceLevel(12.5, 0.0)])
    assert book.bids() == [(10.0, 1.0)]
    assert book.asks() == [(11.0, 1.0)]
    assert book.top_version == version


def test_text_levels_are_exact_and_best_first() -> None:
    book = OrderBook(10, 2, 8)
    book.apply_snapshot(
        [PriceLevel(99.5, 1.0), PriceLevel(100.25, 0.5)],
        [PriceLevel(100.5, 2.0), PriceLevel(101.0, 0.00000001)],
    )
    asks, bids = book.text_levels()
    assert asks == [("100.50", "2.00000000"), ("101.00", "0.00000001")]
    assert bids == [("100.25", "0.50000000"), ("99.50", "1.00000000")]
    assert book.best_bid() == (100.25, 0.5)
    assert book.best_ask() == (100.5, 2.0)
    assert not book.crossed


def test_a_crossed_book_is_reported() -> None:
    book = OrderBook(10, 1, 3)
    book.apply_snapshot([PriceLevel(10.0, 1.0)], [PriceLevel(10.5, 1.0)])
    book.apply_update([PriceLevel(10.5, 2.0)], [])
    assert book.crossed
