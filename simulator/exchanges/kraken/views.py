"""What a `book` subscriber of a given depth holds, and the update that keeps it right.

Kraken publishes only the levels inside a subscriber's depth window: a level pushed out by a
better insert is not deleted on the wire (the client truncates to its depth itself), and a level
that scrolls into the window because one inside was removed arrives as an ordinary insert. A
`BookView` mirrors the client's window exactly (price -> lots) so that, after every event, it can
send precisely the changes that turn the client's window into the true top-N again.

Every subscriber of one (symbol, depth) sees the same window, so one view (and one encoded
frame) serves them all.
"""

from __future__ import annotations

from simulator.book import BookSide, OrderBook
from simulator.market import LevelChange

Updates = list[tuple[int, int]]


class _WindowSide:
    __slots__ = ("boundary", "levels")

    def __init__(self, side: BookSide, depth: int) -> None:
        top = side.top(depth)
        self.levels: dict[int, int] = dict(top)
        self.boundary: int | None = top[-1][0] if top else None  # worst price in the window


class BookView:
    """One depth's window on one symbol's book."""

    __slots__ = ("_asks", "_bids", "depth", "symbol")

    def __init__(self, book: OrderBook, depth: int) -> None:
        self.symbol = book.symbol
        self.depth = depth
        self._bids = _WindowSide(book.bids, depth)
        self._asks = _WindowSide(book.asks, depth)

    def snapshot(self) -> tuple[Updates, Updates]:
        """The window as (bids, asks), best first."""
        bids = sorted(self._bids.levels.items(), reverse=True)
        asks = sorted(self._asks.levels.items())
        return bids, asks

    def apply(self, book: OrderBook, changes: list[LevelChange]) -> tuple[Updates, Updates]:
        """Bring the window up to date with `book` after `changes`; return the (bids, asks)
        levels to publish (qty 0 = delete), empty when nothing inside the window changed."""
        touched_bids: dict[int, None] = {}
        touched_asks: dict[int, None] = {}
        for change in changes:
            (touched_bids if change.side == "bid" else touched_asks)[change.price] = None
        bids = self._apply_side(self._bids, book.bids, touched_bids) if touched_bids else []
        asks = self._apply_side(self._asks, book.asks, touched_asks) if touched_asks else []
        return bids, asks

    def _apply_side(self, window: _WindowSide, side: BookSide, touched: dict[int, None]) -> Updates:
        depth, levels = self.depth, window.levels
        old_boundary = window.boundary
        count = min(depth, len(side))
        boundary = side.price_at(count - 1) if count else None
        out: Updates = []
        for price in touched:
            qty = side.qty(price)
            inside = qty > 0 and boundary is not None and side.at_least_as_good(price, boundary)
            if inside:
                if levels.get(price) != qty:
                    levels[price] = qty
                    out.append((price, qty))
            elif price in levels:
                del levels[price]
                if qty == 0:  # deleted inside the window; a level merely pushed out is silent
                    out.append((price, 0))
        if old_boundary is None:
            start = 0
        else:
            start = side.rank(old_boundary) + (1 if old_boundary in side else 0)
        # Levels between the new and the old boundary were pushed out: the client truncates.
        for rank in range(count, min(start, len(side))):
            levels.pop(side.price_at(rank), None)
        # Levels that were outside the old window and are inside the new one scrolled in.
        for rank in range(start, count):
            price = side.price_at(rank)
            if price not in levels:
                qty = side.qty(price)
                levels[price] = qty
                out.append((price, qty))
        window.boundary = boundary
        return out
