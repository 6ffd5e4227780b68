"""Order-book state: snapshots and deltas against a naive model, truncation, rounding, top-n
records, msgpack round trips and conflated publishing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.books import (
    BookState,
    apply_update,
    due,
    flush_due,
    mark_published,
    top_of,
)
from schemas.models import BookUpdate, OrderBook, PriceLevel

T0 = 1_790_000_000_000_000  # microseconds
WINDOW = 100_000  # 100 ms conflation

Pairs = list[tuple[float, float]]


def levels(pairs: Sequence[tuple[float, float]]) -> list[PriceLevel]:
    return [PriceLevel(price, qty) for price, qty in pairs]


def update(
    bids: Sequence[tuple[float, float]] = (),
    asks: Sequence[tuple[float, float]] = (),
    *,
    snapshot: bool = False,
    depth: int = 10,
    ts: int = T0,
    checksum: int | None = None,
    price_precision: int = 1,
    size_precision: int = 8,
) -> BookUpdate:
    return BookUpdate(
        exchange="kraken",
        symbol="BTC/USD",
        is_snapshot=snapshot,
        bids=levels(bids),
        asks=levels(asks),
        depth=depth,
        exchange_ts=ts,
        received_ts=ts + 500,
        checksum=checksum,
        price_precision=price_precision,
        size_precision=size_precision,
    )


def applied(*updates: BookUpdate) -> BookState:
    state: BookState | None = None
    for u in updates:
        state = apply_update(state, u)
    assert state is not None
    return state


def sides(book: OrderBook) -> tuple[Pairs, Pairs]:
    return [(lv.price, lv.qty) for lv in book.bids], [(lv.price, lv.qty) for lv in book.asks]


# ---- a naive model: integer ticks, sorted and truncated from scratch ---------------------------


@dataclass
class Model:
    """Levels keyed by integer tick (price = tick / 10), never by a float."""

    started: bool = False
    depth: int = 0
    bids: dict[int, float] = field(default_factory=dict)
    asks: dict[int, float] = field(default_factory=dict)

    def apply(self, msg: Message) -> None:
        if msg.snapshot:
            self.started, self.depth = True, msg.depth
            self.bids, self.asks = {}, {}
        elif not self.started:
            return
        for side, changes in ((self.bids, msg.bids), (self.asks, msg.asks)):
            for tick, _noise, qty in changes:
                if qty > 0:
                    side[tick] = qty
                else:
                    side.pop(tick, None)
        self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
        self.asks = dict(sorted(self.asks.items())[: self.depth])

    def top(self, n: int) -> tuple[Pairs, Pairs]:
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return [(t / 10, q) for t, q in bids], [(t / 10, q) for t, q in asks]


Change = tuple[int, float, float]  # tick, float noise on the price, qty (0 deletes)


@dataclass(frozen=True)
class Message:
    snapshot: bool
    depth: int
    bids: list[Change]
    asks: list[Change]

    def to_update(self, ts: int) -> BookUpdate:
        def pairs(changes: list[Change]) -> Pairs:
            return [(tick / 10 + noise, qty) for tick, noise, qty in changes]

        return update(
            pairs(self.bids), pairs(self.asks), snapshot=self.snapshot, depth=self.depth, ts=ts
        )


changes = st.lists(
    st.tuples(
        st.integers(1, 40),
        st.sampled_from([0.0, 1e-9, -1e-9, 0.01, -0.01, 0.1 + 0.2 - 0.3]),
        st.one_of(st.just(0.0), st.floats(0.001, 100, allow_nan=False)),
    ),
    max_size=12,
)
messages = st.lists(
    st.builds(
        Message,
        snapshot=st.integers(0, 9).map(lambda i: i == 0),  # one message in ten is a snapshot
        depth=st.integers(1, 10),
        bids=changes,
        asks=changes,
    ),
    max_size=60,
)


def run(msgs: list[Message], first: Message) -> tuple[BookState | None, Model]:
    state: BookState | None = None
    model = Model()
    for i, msg in enumerate([first, *msgs]):
        state = apply_update(state, msg.to_update(T0 + i))
        model.apply(msg)
    return state, model


@settings(max_examples=300)
@given(st.builds(Message, st.just(True), st.integers(1, 10), changes, changes), messages)
def test_snapshot_then_deltas_match_a_naive_model(first: Message, msgs: list[Message]) -> None:
    state, model = run(msgs, first)
    assert state is not None
    assert state.depth == model.depth
    assert state.bids == {t / 10: q for t, q in model.bids.items()}
    assert state.asks == {t / 10: q for t, q in model.asks.items()}
    for n in (1, 3, model.depth, 100):
        assert sides(top_of(state, n)) == model.top(n)


@settings(max_examples=100)
@given(messages)
def test_deltas_without_a_snapshot_first_are_ignored_until_one_arrives(
    msgs: list[Message],
) -> None:
    state: BookState | None = None
    model = Model()
    for i, msg in enumerate(msgs):
        state = apply_update(state, msg.to_update(T0 + i))
        model.apply(msg)
        assert (state is None) == (not model.started)
        if state is not None:
            assert sides(top_of(state, 100)) == model.top(100)


def test_a_delta_before_any_snapshot_is_ignored() -> None:
    assert apply_update(None, update([(100.0, 1.0)], [(101.0, 1.0)])) is None
    bare = BookState(exchange="kraken", symbol="BTC/USD", depth=10)
    assert apply_update(bare, update([(100.0, 1.0)])) is bare
    assert bare == BookState(exchange="kraken", symbol="BTC/USD", depth=10)


def test_a_zero_qty_deletes_a_level_and_an_unknown_delete_is_harmless() -> None:
    state = applied(
        update([(100.0, 1.0), (99.0, 2.0)], [(101.0, 3.0), (102.0, 4.0)], snapshot=True),
        update([(100.0, 0.0), (50.0, 0.0)], [(102.0, 0.0), (103.0, 0.0)]),
    )
    assert sides(top_of(state, 10)) == ([(99.0, 2.0)], [(101.0, 3.0)])
    assert state.updates == 1


def test_a_delta_sets_new_and_changed_levels() -> None:
    state = applied(
        update([(100.0, 1.0)], [(101.0, 3.0)], snapshot=True),
        update([(100.0, 5.0), (99.5, 2.0)], [(100.5, 1.5)]),
    )
    assert sides(top_of(state, 10)) == ([(100.0, 5.0), (99.5, 2.0)], [(100.5, 1.5), (101.0, 3.0)])


def test_a_new_snapshot_resets_levels_depth_and_precisions() -> None:
    state = applied(
        update([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)], snapshot=True, depth=10),
        update([(98.0, 1.0)], checksum=7),
    )
    state.last_offset, state.last_published_ts = 41, T0 + 5
    again = apply_update(
        state,
        update(
            [(200.125, 2.0)],
            [(200.25, 3.0), (200.5, 1.0)],
            snapshot=True,
            depth=1,
            checksum=9,
            price_precision=3,
            size_precision=4,
            ts=T0 + 10,
        ),
    )
    assert again is not None
    assert sides(top_of(again, 10)) == ([(200.125, 2.0)], [(200.25, 3.0)])
    assert (again.depth, again.price_precision, again.size_precision) == (1, 3, 4)
    assert (again.updates, again.checksum, again.exchange_ts) == (0, 9, T0 + 10)
    # the replay guard and the conflation clock are the caller's: a snapshot keeps them
    assert (again.last_offset, again.last_published_ts) == (41, T0 + 5)


def test_deltas_truncate_each_side_to_depth() -> None:
    state = applied(
        update(
            [(100.0, 1.0), (99.0, 1.0), (98.0, 1.0)],
            [(101.0, 1.0), (102.0, 1.0), (103.0, 1.0)],
            snapshot=True,
            depth=3,
        ),
        # a better level on each side pushes the worst out; one beyond the depth never enters
        update([(100.5, 2.0), (97.0, 9.0)], [(100.8, 2.0), (104.0, 9.0)]),
    )
    assert sides(top_of(state, 10)) == (
        [(100.5, 2.0), (100.0, 1.0), (99.0, 1.0)],
        [(100.8, 2.0), (101.0, 1.0), (102.0, 1.0)],
    )
    # a level truncated away does not come back when a better one is deleted (as on Kraken)
    apply_update(state, update([(100.5, 0.0)], [(100.8, 0.0)]))
    assert sides(top_of(state, 10)) == ([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)])


def test_a_snapshot_deeper_than_its_depth_is_truncated() -> None:
    bids = [(100.0 - i, 1.0) for i in range(8)]
    asks = [(101.0 + i, 1.0) for i in range(8)]
    state = applied(update(bids[::-1], asks[::-1], snapshot=True, depth=5))
    assert sides(top_of(state, 100)) == (bids[:5], asks[:5])


def test_prices_are_keyed_by_their_value_rounded_to_the_precision() -> None:
    noisy = 0.1 + 0.2
    assert noisy != 0.3
    state = applied(
        update([(noisy, 1.0)], [(0.5, 1.0)], snapshot=True, price_precision=1),
        update([(0.3, 2.0)]),
    )
    assert sides(top_of(state, 10)) == ([(0.3, 2.0)], [(0.5, 1.0)])
    apply_update(state, update([(noisy, 0.0)], [(0.49999999999, 0.0)]))
    assert sides(top_of(state, 10)) == ([], [])


def test_top_of_orders_best_first_cuts_to_n_and_carries_the_metadata() -> None:
    state = applied(
        update(
            [(99.0, 2.0), (100.0, 1.0), (98.0, 3.0), (97.0, 4.0)],
            [(103.0, 3.0), (101.0, 1.0), (104.0, 4.0), (102.0, 2.0)],
            snapshot=True,
            depth=4,
            price_precision=1,
            size_precision=6,
        ),
        update([(96.0, 0.0)], checksum=1234, ts=T0 + 7),
        update([(99.0, 2.5)], checksum=5678, ts=T0 + 9),
    )
    book = top_of(state, 2, seq=42)
    assert book == OrderBook(
        exchange="kraken",
        symbol="BTC/USD",
        bids=[PriceLevel(100.0, 1.0), PriceLevel(99.0, 2.5)],
        asks=[PriceLevel(101.0, 1.0), PriceLevel(102.0, 2.0)],
        depth=2,
        exchange_ts=T0 + 9,
        received_ts=T0 + 9 + 500,
        checksum=5678,
        updates=2,
        price_precision=1,
        size_precision=6,
        seq=42,
    )
    full = top_of(state, 25)
    assert full.depth == 4
    assert [lv.price for lv in full.bids] == [100.0, 99.0, 98.0, 97.0]
    assert [lv.price for lv in full.asks] == [101.0, 102.0, 103.0, 104.0]
    assert sides(top_of(state, 0)) == ([], [])


@settings(max_examples=150)
@given(st.builds(Message, st.just(True), st.integers(1, 10), changes, changes), messages)
def test_state_round_trips_through_msgpack_exactly(first: Message, msgs: list[Message]) -> None:
    state, _ = run(msgs, first)
    assert state is not None
    state.last_offset, state.last_published_ts = 1234, T0 + 99
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=BookState)
    assert decoded == state
    # and the decoded state goes on exactly as the original would
    more = update([(2.0, 1.0), (3.0, 0.0)], [(3.1, 2.0), (2.5, 0.0)], checksum=3, ts=T0 + 1000)
    assert apply_update(decoded, more) == apply_update(state, more)


def test_a_fresh_state_round_trips_through_msgpack() -> None:
    state = applied(update(snapshot=True, checksum=None))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=BookState) == state


# ---- conflation ---------------------------------------------------------------------------------


@dataclass
class Publisher:
    """What the caller does: publish on updates when due, and flush dirty books periodically."""

    conflate_us: int
    published: list[OrderBook] = field(default_factory=list)

    def on_update(self, state: BookState | None, now_us: int) -> None:
        if state is not None and due(state, now_us, self.conflate_us):
            self.publish(state, now_us)

    def flush(self, states: list[BookState], now_us: int) -> None:
        for state in flush_due(states, now_us, self.conflate_us):
            self.publish(state, now_us)

    def publish(self, state: BookState, now_us: int) -> None:
        self.published.append(top_of(state, 10))
        mark_published(state, now_us)


def test_a_burst_within_the_window_publishes_once_and_the_flush_publishes_the_rest() -> None:
    pub = Publisher(WINDOW)
    state = applied(update([(100.0, 1.0)], [(101.0, 1.0)], snapshot=True))
    pub.on_update(state, T0)
    assert [sides(b) for b in pub.published] == [([(100.0, 1.0)], [(101.0, 1.0)])]

    start = T0 + 5 * WINDOW
    for i in range(100):  # 100 deltas inside 1 ms of a 100 ms window
        apply_update(state, update([(100.0, 2.0 + i)], ts=start + i))
        pub.on_update(state, start + i * 10)
    assert [sides(b) for b in pub.published] == [
        ([(100.0, 1.0)], [(101.0, 1.0)]),  # the snapshot
        ([(100.0, 2.0)], [(101.0, 1.0)]),  # the first delta of the burst, and only it
    ]

    pub.flush([state], start + WINDOW - 1)  # still inside the window
    assert len(pub.published) == 2
    pub.flush([state], start + WINDOW)
    assert len(pub.published) == 3
    last = pub.published[-1]
    assert sides(last) == ([(100.0, 101.0)], [(101.0, 1.0)])  # the burst's final book
    assert (last.updates, last.exchange_ts) == (100, start + 99)
    assert not state.dirty

    pub.flush([state], start + 10 * WINDOW)  # nothing changed since: nothing to publish
    assert pub.published[-1] is last
    assert len(pub.published) == 3


def test_the_first_publication_after_a_snapshot_is_always_due() -> None:
    state = applied(update([(100.0, 1.0)], snapshot=True))
    mark_published(state, T0)
    apply_update(state, update([(100.0, 2.0)]))
    assert not due(state, T0 + 1, WINDOW)
    fresh = apply_update(state, update([(90.0, 1.0)], snapshot=True))
    assert fresh is not None
    assert due(fresh, T0 + 2, WINDOW)  # within the window, yet a new snapshot goes out at once
    mark_published(fresh, T0 + 2)
    apply_update(fresh, update([(90.0, 2.0)]))
    assert not due(fresh, T0 + 3, WINDOW)
    assert due(fresh, T0 + 2 + WINDOW, WINDOW)


def test_due_without_conflation_without_a_snapshot_and_when_the_clock_steps_back() -> None:
    state = applied(update([(100.0, 1.0)], snapshot=True))
    mark_published(state, T0)
    apply_update(state, update([(100.0, 2.0)]))
    assert due(state, T0, 0)
    assert not due(state, T0 + WINDOW - 1, WINDOW)
    assert due(state, T0 - 1_000_000, WINDOW)  # a stepped-back clock never stalls the book
    assert not due(BookState(exchange="kraken", symbol="BTC/USD", dirty=True), T0, 0)


def test_flush_due_returns_only_dirty_books_past_their_window() -> None:
    def book(symbol: str, published_at: int, *, changed: bool) -> BookState:
        state = applied(update([(100.0, 1.0)], snapshot=True))
        state.symbol = symbol
        mark_published(state, published_at)
        if changed:
            apply_update(state, update([(100.0, 2.0)]))
        return state

    now = T0 + 10 * WINDOW
    states = [
        book("A", now - WINDOW, changed=True),  # due
        book("B", now - WINDOW + 1, changed=True),  # changed, but inside the window
        book("C", now - 5 * WINDOW, changed=False),  # past the window, nothing new
        book("D", now - 5 * WINDOW, changed=True),  # due
    ]
    assert [s.symbol for s in flush_due(states, now, WINDOW)] == ["A", "D"]
    assert [s.symbol for s in flush_due(iter(states), now + 1, WINDOW)] == ["A", "B", "D"]
