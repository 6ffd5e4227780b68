"""Kraken book state per symbol: snapshots reset, updates apply, every message is verified.

A symbol is either live (its book verified against Kraken's checksum after every message) or
awaiting a snapshot (just subscribed, or resyncing after a mismatch): updates for it are ignored
until the fresh snapshot arrives, so nothing built on a corrupt book is ever returned.

A snapshot can be lost (the connection stalls right after the subscription, the request is
rejected), so each wait is timed: `overdue` names the symbols whose snapshot is later than the
deadline the caller gives for their number of misses so far, and the caller asks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from producers.core.orderbook import Level, OrderBook
from producers.errors import ChecksumMismatch
from producers.exchanges.kraken.checksum import crc32_text


class KrakenBooks:
    def __init__(self, depth: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.depth = depth
        self._clock = clock
        self._books: dict[str, OrderBook] = {}
        self._awaiting: dict[str, float] = {}  # symbol -> when its snapshot was asked for
        self._misses: dict[str, int] = {}  # symbol -> snapshot deadlines missed in a row
        self._crc: dict[str, tuple[int, int]] = {}  # symbol -> (top_version, crc)

    def reset(self) -> None:
        """A new connection: every book starts again from its snapshot."""
        self._books.clear()
        self._awaiting.clear()
        self._misses.clear()
        self._crc.clear()

    def await_snapshot(self, symbol: str) -> None:
        """Drop the book until a snapshot comes; the wait for it (re)starts now."""
        self._books.pop(symbol, None)
        self._crc.pop(symbol, None)
        self._awaiting[symbol] = self._clock()

    def drop(self, symbol: str) -> None:
        self._books.pop(symbol, None)
        self._crc.pop(symbol, None)
        self._awaiting.pop(symbol, None)
        self._misses.pop(symbol, None)

    def overdue(self, deadline: Callable[[int], float]) -> list[tuple[str, float]]:
        """The symbols still awaiting a snapshot `deadline(misses)` seconds after it was asked
        for (`misses`: deadlines it already missed in a row, so the caller can back off), with
        how long each waited. Each one returned counts as a miss; the count is cleared by the
        snapshot. The caller asks again, which restarts the wait (`await_snapshot`)."""
        now = self._clock()
        late: list[tuple[str, float]] = []
        for symbol, since in self._awaiting.items():
            waited = now - since
            if waited >= deadline(self._misses.get(symbol, 0)):
                late.append((symbol, waited))
        for symbol, _waited in late:
            self._misses[symbol] = self._misses.get(symbol, 0) + 1
        return late

    def apply(
        self,
        symbol: str,
        snapshot: bool,
        bids: Sequence[Level],
        asks: Sequence[Level],
        checksum: int | None,
        price_precision: int,
        qty_precision: int,
    ) -> bool:
        """Apply one message; False when it is ignored (awaiting a snapshot). Raises
        ChecksumMismatch, after which the symbol awaits a fresh snapshot."""
        if not snapshot and symbol in self._awaiting:
            return False
        book = self._books.get(symbol)
        if book is None or snapshot:
            book = self._books[symbol] = OrderBook(self.depth, price_precision, qty_precision)
            self._crc.pop(symbol, None)
            book.apply_snapshot(bids, asks)
            self._awaiting.pop(symbol, None)
            self._misses.pop(symbol, None)
        else:
            book.apply_update(bids, asks)
        if checksum is not None and (got := self.checksum(symbol)) != checksum:
            self.await_snapshot(symbol)
            raise ChecksumMismatch(symbol, checksum, got)
        return True

    def checksum(self, symbol: str) -> int:
        """Kraken's CRC32 of the top 10, recomputed only when the top 10 changed."""
        book = self._books[symbol]
        version, crc = self._crc.get(symbol, (-1, 0))
        if version != book.top_version:
            crc = crc32_text(book.unit_tokens(10))
            self._crc[symbol] = (book.top_version, crc)
        return crc

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.get(symbol)
