"""Kraken's published checksum vectors through our book, truncation, and decimal text."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given
from hypothesis import strategies as st

from producers.core.orderbook import OrderBook
from producers.exchanges.kraken.checksum import book_checksum, checksum_token, format_decimal
from schemas.models import PriceLevel

SNAPSHOT_BIDS = [
    PriceLevel(45283.5, 0.1),
    PriceLevel(45283.4, 1.54582015),
    PriceLevel(45282.1, 0.1),
    PriceLevel(45281.0, 0.1),
    PriceLevel(45280.3, 1.54592586),
    PriceLevel(45279.0, 0.0799),
    PriceLevel(45277.6, 0.03310103),
    PriceLevel(45277.5, 0.3),
    PriceLevel(45277.3, 1.54602737),
    PriceLevel(45276.6, 0.15445238),
]
SNAPSHOT_ASKS = [
    PriceLevel(45285.2, 0.001),
    PriceLevel(45286.4, 1.54571953),
    PriceLevel(45286.6, 1.54571109),
    PriceLevel(45289.6, 1.54560911),
    PriceLevel(45290.2, 0.1589066),
    PriceLevel(45291.8, 1.54553491),
    PriceLevel(45294.7, 0.04454749),
    PriceLevel(45296.1, 0.3538),
    PriceLevel(45297.5, 0.09945542),
    PriceLevel(45299.5, 0.18772827),
]
UPDATE_BIDS = [PriceLevel(45283.5, 0.25), PriceLevel(45284.0, 4.0)]
UPDATE_ASKS = [PriceLevel(45285.2, 0.0), PriceLevel(45300.1, 0.5)]


def _book() -> OrderBook:
    book = OrderBook(depth=10, price_precision=1, qty_precision=8)
    book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS)
    return book


def test_published_snapshot_vector() -> None:
    asks, bids = _book().text_levels()
    assert asks[0] == ("45285.2", "0.00100000")
    assert book_checksum(asks, bids) == 3310070434


def test_published_follow_on_update_vector_needs_truncation() -> None:
    book = _book()
    book.apply_update(UPDATE_BIDS, UPDATE_ASKS)
    assert book_checksum(*book.text_levels()) == 2663757915
    assert (45276.6, 0.15445238) not in book.bids()  # pushed out of the depth-10 window


def test_without_truncation_the_checksum_differs() -> None:
    book = OrderBook(depth=11, price_precision=1, qty_precision=8)  # keeps one level too many
    book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS)
    book.apply_update(UPDATE_BIDS, UPDATE_ASKS)
    book.apply_update(
        [PriceLevel(45284.0, 0.0)], []
    )  # the scrolled-out bid would re-enter the top 10
    reference = _book()
    reference.apply_update(UPDATE_BIDS, UPDATE_ASKS)
    reference.apply_update([PriceLevel(45284.0, 0.0)], [])
    assert book_checksum(*book.text_levels()) != book_checksum(*reference.text_levels())


def test_checksum_tokens_strip_point_and_leading_zeros() -> None:
    assert checksum_token("45285.2") == "452852"
    assert checksum_token("0.00100000") == "100000"
    assert checksum_token("0.05000") == "5000"


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.integers(0, 10))
def test_format_decimal_is_exact_decimal_rounding_of_the_repr(value: float, places: int) -> None:
    expected = str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN))
    assert format_decimal(value, places) == expected


def test_no_binary_float_artefacts() -> None:
    assert format_decimal(0.1 + 0.2, 8) == "0.30000000"
    assert format_decimal(4.0, 8) == "4.00000000"
