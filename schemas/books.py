"""Order books from book updates: per-instrument state, top-n records and conflated publishing.

Pure and deterministic (no clock, no I/O, no faust): the caller passes the time in, so a processor
that replays its input rebuilds the same books. The book processor and the API's read model both
build books with it, from the same md.book.v1 records, so their top-n records are equal.

- A snapshot replaces the book (levels, depth, precisions). A delta lists changed levels: a qty
  of 0 deletes the level (as does a negative qty, which no venue sends), a positive qty sets it.
  After every message each side is truncated to `depth` levels (bids keep the highest prices,
  asks the lowest), as Kraken requires.
- A delta before any snapshot is ignored: applied to no base it would build a wrong book.
- Levels are keyed by `round(price, price_precision)`: `round` returns the float nearest to the
  decimal, so two prices that round to the same decimal (0.1 + 0.2 and 0.3 at precision 1) are
  the same key, never two levels. Each side is a dict price -> qty; deltas cost O(changed levels)
  plus O(depth) when a side overflows, and only publishing sorts (O(depth log n)).
- `BookState` is a msgspec Struct: a faust table stores it as msgpack bytes and gets it back
  equal, field for field.
- Conflation: a burst of deltas publishes one full book per `conflate_us`. `due` tells the update
  path whether to publish now; a book changed since its last publication (`dirty`) is picked up
  by the periodic `flush_due` once its window has passed, so the last delta of a burst is never
  left unpublished. The first publication after a snapshot is always due.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

import msgspec

from schemas.models import BookUpdate, OrderBook, PriceLevel


class BookState(msgspec.Struct, kw_only=True):
    """One instrument's book as a reader of md.book.v1 keeps it (mutable; msgpack-serializable)."""

    exchange: str
    symbol: str
    bids: dict[float, float] = msgspec.field(default_factory=dict)  # rounded price -> qty
    asks: dict[float, float] = msgspec.field(default_factory=dict)
    depth: int = 0
    price_precision: int = 8
    size_precision: int = 8
    exchange_ts: int = 0  # of the last update applied
    received_ts: int = 0
    checksum: int | None = None
    updates: int = 0  # deltas applied since the last snapshot
    has_snapshot: bool = False
    last_offset: int = -1  # source Kafka offset last applied (set by the caller)
    last_published_ts: int = 0  # microseconds
    dirty: bool = False  # changed since the last publication
    snapshot_pending: bool = False  # a snapshot not yet published: due at once


def apply_update(state: BookState | None, update: BookUpdate) -> BookState | None:
    """The state after `update`: mutated in place for a delta; a snapshot rebuilds the book
    (keeping `last_offset` and `last_published_ts`). A delta before any snapshot changes nothing.
    """
    if update.is_snapshot:
        return _from_snapshot(state, update)
    if state is None or not state.has_snapshot:
        return state
    precision = state.price_precision
    _apply_levels(state.bids, update.bids, precision)
    _apply_levels(state.asks, update.asks, precision)
    _truncate(state, state.depth)
    state.updates += 1
    _stamp(state, update)
    return state


def _from_snapshot(previous: BookState | None, update: BookUpdate) -> BookState:
    state = BookState(
        exchange=update.exchange,
        symbol=update.symbol,
        depth=update.depth,
        price_precision=update.price_precision,
        size_precision=update.size_precision,
        has_snapshot=True,
        snapshot_pending=True,
    )
    if previous is not None:
        state.last_offset = previous.last_offset
        state.last_published_ts = previous.last_published_ts
    _apply_levels(state.bids, update.bids, update.price_precision)
    _apply_levels(state.asks, update.asks, update.price_precision)
    _truncate(state, update.depth)
    _stamp(state, update)
    return state


def _apply_levels(side: dict[float, float], levels: list[PriceLevel], precision: int) -> None:
    for level in levels:
        price = round(level.price, precision)
        if level.qty > 0:
            side[price] = level.qty
        else:
            side.pop(price, None)


def _truncate(state: BookState, depth: int) -> None:
    _drop_worst(state.bids, depth, keep_high=True)
    _drop_worst(state.asks, depth, keep_high=False)


def _drop_worst(side: dict[float, float], depth: int, *, keep_high: bool) -> None:
    """Delete the levels beyond `depth` (the usual overflow, one level, in a single pass)."""
    excess = len(side) - depth
    if excess <= 0:
        return
    if excess == 1:
        del side[min(side) if keep_high else max(side)]
        return
    worst = heapq.nsmallest(excess, side) if keep_high else heapq.nlargest(excess, side)
    for price in worst:
        del side[price]


def _stamp(state: BookState, update: BookUpdate) -> None:
    state.exchange_ts = update.exchange_ts
    state.received_ts = update.received_ts
    state.checksum = update.checksum
    state.dirty = True


def top_of(state: BookState, n: int, seq: int = 0) -> OrderBook:
    """The best `n` levels of each side as an `OrderBook` record, best first."""
    bids = heapq.nlargest(n, state.bids) if n > 0 else []
    asks = heapq.nsmallest(n, state.asks) if n > 0 else []
    return OrderBook(
        exchange=state.exchange,
        symbol=state.symbol,
        bids=[PriceLevel(p, state.bids[p]) for p in bids],
        asks=[PriceLevel(p, state.asks[p]) for p in asks],
        depth=max(0, min(n, state.depth)),
        exchange_ts=state.exchange_ts,
        received_ts=state.received_ts,
        checksum=state.checksum,
        updates=state.updates,
        price_precision=state.price_precision,
        size_precision=state.size_precision,
        seq=seq,
    )


def due(state: BookState, now_us: int, conflate_us: int) -> bool:
    """Whether a full book should be published now: never without a snapshot; always for the
    first publication after one, or without conflation; otherwise once no publication happened
    in the last `conflate_us` (a clock that stepped back counts as due, never as a stall)."""
    if not state.has_snapshot:
        return False
    if state.snapshot_pending or conflate_us <= 0:
        return True
    elapsed = now_us - state.last_published_ts
    return elapsed >= conflate_us or elapsed < 0


def mark_published(state: BookState, now_us: int) -> None:
    """Record a publication of the book's current content at `now_us`."""
    state.last_published_ts = now_us
    state.dirty = False
    state.snapshot_pending = False


def flush_due(states: Iterable[BookState], now_us: int, conflate_us: int) -> list[BookState]:
    """The books changed since their last publication whose conflation window has passed."""
    return [s for s in states if s.dirty and due(s, now_us, conflate_us)]
