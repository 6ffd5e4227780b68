"""Two consecutive book deltas of one instrument as one.

A delta published by the producers lists every level it changes, the levels its update pushed
past the depth included (as deletes), so a reader's book equals the producer's after applying
it, with no truncation rule of its own. Applying `merge(a, b)` then leaves a reader's book
exactly as applying `a` and then `b` does: every level either touched, at its last quantity.
"""

from __future__ import annotations

import msgspec

from schemas.models import BookUpdate, PriceLevel


def merge(older: BookUpdate, newer: BookUpdate) -> BookUpdate:
    """`older` then `newer` as one delta: `newer`'s times and checksum, `older`'s `seq`."""
    if older.is_snapshot or newer.is_snapshot:
        raise ValueError("only deltas merge: a snapshot resets the book")
    return msgspec.structs.replace(
        newer,
        bids=_levels(older.bids, newer.bids),
        asks=_levels(older.asks, newer.asks),
        seq=older.seq,
    )


def _levels(older: list[PriceLevel], newer: list[PriceLevel]) -> list[PriceLevel]:
    if not older:
        return newer
    if not newer:
        return older
    last = {level.price: level for level in older}
    for level in newer:
        last.pop(level.price, None)  # moved to the end: where its last change happened
        last[level.price] = level
    return list(last.values())
