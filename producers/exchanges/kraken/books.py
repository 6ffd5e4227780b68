"""Kraken book state per symbol: snapshots reset, updates apply, every message is verified.

A symbol is either live (its book verified against Kraken's checksum after every message) or
awaiting a snapshot (just subscribed, or resyncing after a mismatch): updates for it are ignored
until the fresh snapshot arrives, so nothing built on a corrupt book is ever returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from producers.core.orderbook import Level, OrderBook
from producers.errors import ChecksumMismatch
from producers.exchanges.kraken.checksum import crc32_text


class KrakenBooks:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._books: dict[str, OrderBook] = {}
        self._awaiting: set[str] = set()
        self._crc: dict[str, tuple[int, int]] = {}  # symbol -> (top_version, crc)

    def reset(self) -> None:
        """A new connection: every book starts again from its snapshot."""
        self._books.clear()
        self._awaiting.clear()
        self._crc.clear()

    def await_snapshot(self, symbol: str) -> None:
        self._books.pop(symbol, None)
        self._crc.pop(symbol, None)
        self._awaiting.add(symbol)

    def drop(self, symbol: str) -> None:
        self._books.pop(symbol, None)
        self._crc.pop(symbol, None)
        self._awaiting.discard(symbol)

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
            self._awaiting.discard(symbol)
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
