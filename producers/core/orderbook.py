"""A venue-free level-2 order book on integer ticks.

Prices and sizes are kept as integers at the instrument's precision (price 45285.2 at precision 1
is tick 452852), so levels never suffer float-equality bugs and exact decimal text for checksums
and display is an integer format, not a float round trip. Each side is a dict tick→lots plus a
sorted list of ticks maintained with bisect (C memmove: fast at the 10-1000 levels books have).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

Level = tuple[float, float]


def _text(units: int, precision: int) -> str:
    if precision == 0:
        return str(units)
    digits = str(units).rjust(precision + 1, "0")
    return f"{digits[:-precision]}.{digits[-precision:]}"


class OrderBook:
    """One instrument's book, truncated to `depth` levels per side after every message."""

    __slots__ = (
        "_ask_keys",
        "_asks",
        "_bid_keys",
        "_bids",
        "_pscale",
        "_qscale",
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
        self._qscale = 10**qty_precision
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_keys: list[int] = []  # ascending; best bid last
        self._ask_keys: list[int] = []  # ascending; best ask first
        # Bumped whenever a change can alter the best TOP levels of either side, so a checksum
        # over them is recomputed only then (deep updates in a 1000-level book leave it alone).
        self.top_version = 0

    def clear(self) -> None:
        self.top_version += 1
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        self.clear()
        self.apply_update(bids, asks)

    def apply_update(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply levels in order (qty 0 deletes; a delete of an unknown level is ignored), then
        truncate each side to the depth, as Kraken requires."""
        pscale, qscale, top = self._pscale, self._qscale, self.TOP
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        touched = False
        for price, qty in bids:
            tick = round(price * pscale)
            if not touched and (len(bid_keys) < top or tick >= bid_keys[-top]):
                touched = True
            self._set(self._bids, bid_keys, tick, round(qty * qscale))
        for price, qty in asks:
            tick = round(price * pscale)
            if not touched and (len(ask_keys) < top or tick <= ask_keys[top - 1]):
                touched = True
            self._set(self._asks, ask_keys, tick, round(qty * qscale))
        if touched:
            self.top_version += 1
        self._truncate()

    @staticmethod
    def _set(side: dict[int, int], keys: list[int], tick: int, lots: int) -> None:
        if lots <= 0:
            if side.pop(tick, None) is not None:
                del keys[bisect.bisect_left(keys, tick)]
            return
        if tick not in side:
            bisect.insort(keys, tick)
        side[tick] = lots

    def _truncate(self) -> None:
        depth = self.depth
        if len(self._bid_keys) > depth:
            for tick in self._bid_keys[:-depth]:
                del self._bids[tick]
            del self._bid_keys[:-depth]
        if len(self._ask_keys) > depth:
            for tick in self._ask_keys[depth:]:
                del self._asks[tick]
            del self._ask_keys[depth:]

    # ---- reading --------------------------------------------------------------------------------

    def bids(self, n: int | None = None) -> list[Level]:
        """Best (highest) first."""
        keys = self._bid_keys[::-1] if n is None else self._bid_keys[: -n - 1 : -1]
        p, q = self._pscale, self._qscale
        return [(t / p, self._bids[t] / q) for t in keys]

    def asks(self, n: int | None = None) -> list[Level]:
        """Best (lowest) first."""
        keys = self._ask_keys if n is None else self._ask_keys[:n]
        p, q = self._pscale, self._qscale
        return [(t / p, self._asks[t] / q) for t in keys]

    def best_bid(self) -> Level | None:
        return self.bids(1)[0] if self._bid_keys else None

    def best_ask(self) -> Level | None:
        return self.asks(1)[0] if self._ask_keys else None

    def text_levels(self, n: int = 10) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(asks, bids), best first, as exact decimal text: what checksums are computed over."""
        pp, qp = self.price_precision, self.qty_precision
        asks = [(_text(t, pp), _text(self._asks[t], qp)) for t in self._ask_keys[:n]]
        bids = [(_text(t, pp), _text(self._bids[t], qp)) for t in self._bid_keys[: -n - 1 : -1]]
        return asks, bids

    def unit_tokens(self, n: int = 10) -> str:
        """Top n asks then top n bids, each level as its integer price units followed by its
        integer size units: exactly Kraken's checksum string (decimal text with the point removed
        and leading zeros stripped is the integer's own digits), built without any formatting."""
        asks, bids = self._asks, self._bids
        parts = [f"{t}{asks[t]}" for t in self._ask_keys[:n]]
        parts += [f"{t}{bids[t]}" for t in self._bid_keys[: -n - 1 : -1]]
        return "".join(parts)

    def __len__(self) -> int:
        return len(self._bid_keys) + len(self._ask_keys)

    @property
    def crossed(self) -> bool:
        return bool(self._bid_keys and self._ask_keys and self._bid_keys[-1] >= self._ask_keys[0])
