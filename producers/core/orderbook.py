"""A venue-free level-2 order book on integer ticks.

Prices and sizes are kept as integers at the instrument's precision (price 45285.2 at precision 1
is tick 452852), so levels never suffer float-equality bugs and exact decimal text for checksums
and display is an integer format, not a float round trip. Levels come in as `PriceLevel`s (the
unified model's level, which venue decoders produce directly), so no intermediate tuples are built.

Each side is a dict key→lots plus the keys in a list kept sorted with bisect, keyed so that
ascending order is best first on both sides (asks by tick, bids by negated tick): one code path
serves both, an insert or delete is one C memmove (at the 10-1000 levels books have, faster than
any tree), and truncating to the depth after an update pops the overflow off the end.

Checksum support: `top_version` is bumped whenever a change can alter the best `TOP` levels, and
`unit_tokens(TOP)` (each level's integer price units then integer size units, best first: Kraken's
checksum string) caches each side's part until that side's top changes, and each level's token
until that level changes, so a deep update costs no formatting and a top-of-book update formats
only the level it changed.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Collection, Iterable

from schemas.models import PriceLevel

Level = PriceLevel


def _text(units: int, precision: int) -> str:
    if precision == 0:
        return str(units)
    digits = str(units).rjust(precision + 1, "0")
    return f"{digits[:-precision]}.{digits[-precision:]}"


class _Side:
    """One side of the book, keyed so that ascending order is best first: asks by their tick,
    bids by the negated tick. `keys` is that ascending list, `lots` maps key -> size units."""

    __slots__ = (
        "depth",
        "dropped",
        "keys",
        "lots",
        "qscale",
        "sign",
        "signed_pscale",
        "tokens",
        "top",
    )

    def __init__(self, sign: int, depth: int, pscale: int, qscale: int) -> None:
        self.sign = sign
        self.depth = depth
        self.signed_pscale = sign * pscale  # round(-x) == -round(x): one multiply gives the key
        self.qscale = qscale
        self.keys: list[int] = []
        self.lots: dict[int, int] = {}
        # key -> the level's checksum token f"{tick}{lots}", for levels whose token was needed;
        # dropped whenever the level changes or leaves, so a top change re-formats only what
        # changed. `top` caches the best TOP tokens joined, None once the top window changed.
        self.tokens: dict[int, str] = {}
        self.top: str | None = None
        self.dropped: list[int] = []
        """Keys the last `update` truncated off the end (levels the venue no longer sends)."""

    def clear(self) -> None:
        self.keys.clear()
        self.lots.clear()
        self.tokens.clear()
        self.top = None

    def snapshot(self, levels: Iterable[Level]) -> None:
        self.clear()
        lots, ps, qs = self.lots, self.signed_pscale, self.qscale
        for lv in levels:  # in order, so a repeated price keeps its last size
            size = round(lv.qty * qs)
            if size > 0:
                lots[round(lv.price * ps)] = size
            else:
                lots.pop(round(lv.price * ps), None)
        self.keys.extend(sorted(lots))
        self._truncate()

    def update(self, levels: Iterable[Level], top: int) -> bool:
        """Apply levels in order; True when the best `top` levels may have changed."""
        keys, lots, tokens = self.keys, self.lots, self.tokens
        ps, qs = self.signed_pscale, self.qscale
        # The worst key inside the top window: a change behind it cannot alter the window
        # (until something inside it changes, after which the bound no longer matters).
        bound = keys[top - 1] if len(keys) >= top else None
        touched = False
        for lv in levels:
            key = round(lv.price * ps)
            size = round(lv.qty * qs)
            if size > 0:
                if key not in lots:
                    insort(keys, key)
                lots[key] = size
            elif lots.pop(key, None) is not None:
                del keys[bisect_left(keys, key)]
            else:
                continue  # deleting a level we do not have changes nothing
            tokens.pop(key, None)
            if bound is None or key <= bound:
                touched = True
        depth = self.depth
        if len(keys) > depth:  # an update overflows by a level or two: pop them off the end
            dropped = self.dropped = []  # (left as apply_update reset it when nothing overflows)
            while len(keys) > depth:
                key = keys.pop()
                del lots[key]
                tokens.pop(key, None)
                dropped.append(key)
        if touched:
            self.top = None
        return touched

    def _truncate(self) -> None:
        keys, lots, tokens, depth = self.keys, self.lots, self.tokens, self.depth
        for key in keys[depth:]:
            del lots[key]
            tokens.pop(key, None)
        del keys[depth:]

    def levels(self, n: int | None, pscale: int) -> list[tuple[float, float]]:
        lots, sign, qs = self.lots, self.sign, self.qscale
        return [(sign * k / pscale, lots[k] / qs) for k in self.keys[:n]]

    def text(self, n: int, pp: int, qp: int) -> list[tuple[str, str]]:
        lots, sign = self.lots, self.sign
        return [(_text(sign * k, pp), _text(lots[k], qp)) for k in self.keys[:n]]

    def unit_tokens(self, n: int) -> str:
        lots, tokens, sign = self.lots, self.tokens, self.sign
        parts = []
        for key in self.keys[:n]:
            token = tokens.get(key)
            if token is None:
                token = tokens[key] = f"{sign * key}{lots[key]}"
            parts.append(token)
        return "".join(parts)


class OrderBook:
    """One instrument's book, truncated to `depth` levels per side after every message."""

    __slots__ = (
        "_asks",
        "_bids",
        "_pscale",
        "depth",
        "price_precision",
        "qty_precision",
        "top_version",
    )

    TOP = 10  # the window whose changes bump `top_version` (what checksums cover)

    def __init__(self, depth: int, price_precision: int, qty_precision: int) -> None:
        self.depth = depth
        self.price_precision = price_precision
        self.qty_precision = qty_precision
        self._pscale = 10**price_precision
        self._bids = _Side(-1, depth, self._pscale, 10**qty_precision)
        self._asks = _Side(1, depth, self._pscale, 10**qty_precision)
        # Bumped whenever a change can alter the best TOP levels of either side, so a checksum
        # over them is recomputed only then (deep updates in a 1000-level book leave it alone).
        self.top_version = 0

    def clear(self) -> None:
        self.top_version += 1
        self._bids.clear()
        self._asks.clear()

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the book: one dict build and one sort per side, then truncate to the depth."""
        self.top_version += 1
        self._bids.snapshot(bids)
        self._asks.snapshot(asks)

    def apply_update(self, bids: Collection[Level], asks: Collection[Level]) -> None:
        """Apply levels in order (qty 0 deletes; a delete of an unknown level is ignored), then
        truncate each side to the depth, as Kraken requires."""
        self._bids.dropped = self._asks.dropped = []
        touched = bool(bids) and self._bids.update(bids, self.TOP)
        if asks and self._asks.update(asks, self.TOP):
            touched = True
        if touched:
            self.top_version += 1

    def truncated(self) -> tuple[list[float], list[float]]:
        """The (bid, ask) prices the last `apply_update` truncated off the depth."""
        bids, asks, scale = self._bids, self._asks, self._pscale
        return (
            [-key / scale for key in bids.dropped],
            [key / scale for key in asks.dropped],
        )

    # ---- reading --------------------------------------------------------------------------------

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        """Best (highest) first."""
        return self._bids.levels(n, self._pscale)

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        """Best (lowest) first."""
        return self._asks.levels(n, self._pscale)

    def best_bid(self) -> tuple[float, float] | None:
        return self.bids(1)[0] if self._bids.keys else None

    def best_ask(self) -> tuple[float, float] | None:
        return self.asks(1)[0] if self._asks.keys else None

    def text_levels(self, n: int = 10) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(asks, bids), best first, as exact decimal text: what checksums are computed over."""
        pp, qp = self.price_precision, self.qty_precision
        return self._asks.text(n, pp, qp), self._bids.text(n, pp, qp)

    def unit_tokens(self, n: int = 10) -> str:
        """Top n asks then top n bids, each level as its integer price units followed by its
        integer size units: exactly Kraken's checksum string (decimal text with the point removed
        and leading zeros stripped is the integer's own digits), built without any formatting
        of decimals. For n == TOP each side's part is cached until that side's top changes."""
        asks, bids = self._asks, self._bids
        if n != self.TOP:
            return asks.unit_tokens(n) + bids.unit_tokens(n)
        if asks.top is None:
            asks.top = asks.unit_tokens(n)
        if bids.top is None:
            bids.top = bids.unit_tokens(n)
        return asks.top + bids.top

    def __len__(self) -> int:
        return len(self._bids.keys) + len(self._asks.keys)

    @property
    def crossed(self) -> bool:
        bids, asks = self._bids.keys, self._asks.keys
        return bool(bids and asks and -bids[0] >= asks[0])
