"""The read model's books: the book table (`md.books.v1`) and the raw updates (`md.book.v1`).

The model builds a book from the raw updates once it saw the book's snapshot, with the
processors' own code (`schemas.books`), one Kafka hop before the table has it. What a client
relies on: until then the table serves the book; from then on the model's record is the one the
table will hold (same levels, same `seq`), the table's copy is never pushed again, a book never
goes back in exchange time, and a burst of updates is one record per flush.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from query_api.readmodel.store import ReadModel
from query_api.ws.fanout import Update
from schemas import topics as t
from schemas.books import BookState, apply_update, top_of
from schemas.models import BookUpdate, OrderBook, PriceLevel

KEY = "kraken:BTC/USD"
T0 = 1_790_000_000_000_000
TOP_N = 3


def update(
    bids: Sequence[tuple[float, float]] = (),
    asks: Sequence[tuple[float, float]] = (),
    *,
    ts: int,
    snapshot: bool = False,
) -> BookUpdate:
    return BookUpdate(
        exchange="kraken",
        symbol="BTC/USD",
        is_snapshot=snapshot,
        bids=[PriceLevel(p, q) for p, q in bids],
        asks=[PriceLevel(p, q) for p, q in asks],
        depth=5,
        exchange_ts=ts,
        received_ts=ts + 100,
        price_precision=1,
        size_precision=8,
    )


SNAPSHOT = update(
    [(100.0, 1), (99.0, 2), (98.0, 3)], [(101.0, 1), (102.0, 2)], ts=T0, snapshot=True
)


def built(updates: Sequence[BookUpdate]) -> BookState:
    state: BookState | None = None
    for u in updates:
        state = apply_update(state, u)
    assert state is not None
    return state


def table_record(*updates: BookUpdate) -> OrderBook:
    """What the book processor publishes after `updates`."""
    state = built(updates)
    return top_of(state, TOP_N, seq=state.updates)


def books(updates: list[Update]) -> list[OrderBook]:
    out = [u.payload for u in updates]
    assert all(isinstance(b, OrderBook) for b in out)
    return out  # type: ignore[return-value]


def model() -> ReadModel:
    return ReadModel(book_top_n=TOP_N)


def test_the_table_serves_a_book_until_its_snapshot_is_read() -> None:
    m = model()
    old = table_record(SNAPSHOT)
    assert [u.payload for u in m.apply(t.BOOKS.name, old)] == [old]
    # a delta without the snapshot before it builds nothing
    assert m.apply(t.BOOK.name, update([(100.0, 5)], ts=T0 + 1)) == []
    assert m.flush_books() == []
    assert m.books[KEY] == old
    assert KEY not in m.book_states


def test_updates_after_a_snapshot_make_the_table_s_record_one_flush_per_burst() -> None:
    m = model()
    burst = [
        SNAPSHOT,
        update([(100.0, 0)], ts=T0 + 1),  # best bid gone
        update([], [(101.0, 4)], ts=T0 + 2),
        update([(99.5, 7)], ts=T0 + 3),
    ]
    for u in burst:
        assert m.apply(t.BOOK.name, u) == []  # nothing until the flush
    pushed = m.flush_books()
    assert [(u.channel, u.key, u.payload) for u in pushed] == [("book", KEY, table_record(*burst))]
    book = m.books[KEY]
    assert [lv.price for lv in book.bids] == [99.5, 99.0, 98.0]
    assert (book.asks[0].qty, book.seq, book.exchange_ts) == (4, 3, T0 + 3)
    assert m.flush_books() == []  # nothing changed since


def test_the_table_s_records_of_a_book_built_here_are_never_pushed() -> None:
    m = model()
    first = [SNAPSHOT, update([(100.0, 2)], ts=T0 + 1)]
    for u in first:
        m.apply(t.BOOK.name, u)
    m.flush_books()
    shown = m.books[KEY]
    # the table catches up, then lags behind: neither its copy nor an older record is pushed
    assert m.apply(t.BOOKS.name, table_record(*first)) == []
    assert m.apply(t.BOOKS.name, table_record(SNAPSHOT)) == []
    assert m.books[KEY] == shown
    # The producer's own snapshot after a delta has the delta's time: the table's record of
    # the delta (same moment, other seq) is behind the model, though not older.
    delta = update([(97.0, 1)], ts=T0 + 2)
    whole = top_of(built([*first, delta]), 1000)
    own = msgspec.structs.replace(delta, is_snapshot=True, bids=whole.bids, asks=whole.asks)
    for u in (delta, own):
        m.apply(t.BOOK.name, u)
    assert [u.payload for u in m.flush_books()] == [table_record(*first, delta, own)]
    assert m.apply(t.BOOKS.name, table_record(*first, delta)) == []
    assert m.books[KEY] == table_record(*first, delta, own)


def test_while_warming_a_newer_table_record_stands_until_the_updates_pass_it() -> None:
    m = model()
    later = [SNAPSHOT, update([(100.0, 2)], ts=T0 + 5), update([(99.0, 0)], ts=T0 + 9)]
    newest = table_record(*later[:2])
    m.apply(t.BOOKS.name, newest)  # the table topic is read from its start, the raw from lookback
    m.apply(t.BOOK.name, later[0])
    assert m.flush_books() == []  # the snapshot is older than the table's record
    assert m.books[KEY] == newest
    m.apply(t.BOOK.name, later[1])
    assert m.flush_books() == []  # the same moment and content: already there
    m.apply(t.BOOK.name, later[2])
    assert [u.payload for u in m.flush_books()] == [table_record(*later)]


def test_a_new_snapshot_restarts_the_book() -> None:
    m = model()
    for u in (SNAPSHOT, update([(100.0, 9)], ts=T0 + 1)):
        m.apply(t.BOOK.name, u)
    m.flush_books()
    again = update([(50.0, 1)], [(51.0, 1)], ts=T0 + 2, snapshot=True)
    m.apply(t.BOOK.name, again)
    (pushed,) = m.flush_books()
    assert pushed.payload == table_record(again)
    assert (m.books[KEY].seq, [lv.price for lv in m.books[KEY].bids]) == (0, [50.0])


prices = st.sampled_from([97.0, 98.0, 99.0, 100.0, 101.0, 102.0, 103.0, 104.0])
sides = st.lists(st.tuples(prices, st.sampled_from([0.0, 1.0, 2.5])), max_size=3)


@given(
    deltas=st.lists(st.tuples(sides, sides, st.booleans()), min_size=1, max_size=20),
    table_at=st.lists(st.booleans(), min_size=41, max_size=41),
    order=st.lists(st.sampled_from(["raw", "table", "flush"]), max_size=120),
)
def test_any_interleaving_with_the_table_never_goes_back_and_ends_on_the_table_s_book(
    deltas: list[tuple[list[tuple[float, float]], list[tuple[float, float]], bool]],
    table_at: list[bool],
    order: list[str],
) -> None:
    """Raw updates (some of them the producer's own snapshots) and the table's records of some
    of their prefixes, read in any interleaving (the table ahead while warming, behind when
    live) and flushed at any points: what is pushed never goes back in exchange time, never
    repeats itself, and ends on the table's final record."""
    stream = [SNAPSHOT]
    for i, (bids, asks, whole) in enumerate(deltas, start=1):
        delta = update(bids, asks, ts=T0 + i)
        stream.append(delta)
        if whole:  # the producer publishes its book whole after the update that made it due
            book = top_of(built(stream), 1000)
            stream.append(
                msgspec.structs.replace(delta, is_snapshot=True, bids=book.bids, asks=book.asks)
            )
    table = [table_record(*stream[: i + 1]) for i in range(len(stream)) if table_at[i]]
    table.append(table_record(*stream))  # the table always publishes the last state of a burst
    raw = list(stream)
    m = model()
    pushed: list[OrderBook] = []
    for step in [*order, *["raw"] * len(raw), "flush", *["table"] * len(table), "flush"]:
        if step == "raw" and raw:
            assert m.apply(t.BOOK.name, raw.pop(0)) == []
        elif step == "table" and table:
            pushed += books(m.apply(t.BOOKS.name, table.pop(0)))
        elif step == "flush":
            pushed += books(m.flush_books())
    times = [b.exchange_ts for b in pushed]
    assert times == sorted(times)
    assert all(a != b for a, b in itertools.pairwise(pushed))
    assert m.books[KEY] == table_record(*stream)
    assert pushed[-1] == table_record(*stream)
