"""A depth window's updates keep a Kraken client's book equal to the true top N, with the
checksum the client computes from the wire values matching the server's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from producers.exchanges.kraken.checksum import book_checksum, format_decimal
from simulator.clock import ManualClock
from simulator.exchanges.kraken import render
from simulator.exchanges.kraken.views import BookView
from simulator.market import LevelChange, MarketModel

START_NS = 1_700_000_000 * 1_000_000_000


class Client:
    """What a correct Kraken client does: apply levels in order, then truncate to its depth."""

    def __init__(self, depth: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]):
        self.depth = depth
        self.bids, self.asks = dict(bids), dict(asks)

    def apply(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        for levels, side in ((bids, self.bids), (asks, self.asks)):
            for price, qty in levels:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        for price in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[price]
        for price in sorted(self.asks)[self.depth :]:
            del self.asks[price]

    def checksum(self, pp: int, qp: int) -> int:
        def text(levels: list[tuple[int, int]]) -> list[tuple[str, str]]:
            return [
                (format_decimal(p / 10**pp, pp), format_decimal(q / 10**qp, qp)) for p, q in levels
            ]

        asks = sorted(self.asks.items())[:10]
        bids = sorted(self.bids.items(), reverse=True)[:10]
        return book_checksum(text(asks), text(bids))


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32), depth=st.sampled_from([10, 25, 100, 500, 1000]))
def test_updates_keep_the_client_window_exact(seed: int, depth: int) -> None:
    model = MarketModel(("BTC/USD", "DOGE/USD"), seed=seed, clock=ManualClock(START_NS))
    views = {s: BookView(model.book(s), depth) for s in model.symbols}
    clients = {s: Client(depth, *views[s].snapshot()) for s in model.symbols}
    ts = START_NS
    for step in range(3_000):
        ts += 1_000_000
        event = model.step(ts)
        book, spec = model.book(event.symbol), model.spec(event.symbol)
        bids, asks = views[event.symbol].apply(book, event.changes)
        client = clients[event.symbol]
        client.apply(bids, asks)
        if step % 50 == 0 or depth <= 25:
            assert sorted(client.bids.items(), reverse=True) == book.bids.top(depth)
            assert sorted(client.asks.items()) == book.asks.top(depth)
        if bids or asks:
            pp, qp = spec.price_precision, spec.qty_precision
            assert client.checksum(pp, qp) == render.checksum(book)  # from decimal text


def test_a_level_pushed_out_is_silent_and_a_level_scrolling_in_is_an_insert() -> None:
    model = MarketModel(("BTC/USD",), seed=1, clock=ManualClock(START_NS))
    book = model.book("BTC/USD")
    view = BookView(book, 10)
    best = book.bids.best()
    tenth, eleventh = book.bids.price_at(9), book.bids.price_at(10)
    assert best is not None
    # A better bid pushes the 10th level out: only the insert is published.
    book.bids.set(best + 1, 7)
    bids, _ = view.apply(book, [LevelChange("bid", best + 1, 7)])
    assert bids == [(best + 1, 7)]
    # Deleting a level inside the window brings the next one back in as an insert.
    book.bids.set(best + 1, 0)
    bids, _ = view.apply(book, [LevelChange("bid", best + 1, 0)])
    assert bids == [(best + 1, 0), (tenth, book.bids.qty(tenth))]
    assert eleventh not in dict(bids)
