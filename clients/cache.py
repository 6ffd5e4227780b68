"""A small TTL cache of decoded answers, one TTL per kind of data (TOOL-003).

Keys are (kind, path, query); an entry lives `ttls.<kind>` seconds on a monotonic clock. A TTL of
0 turns caching off for that kind. Entries are frozen Structs, safe to share between callers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal[
    "prices", "book", "candles", "indicators", "trades", "balance", "positions", "status"
]


@dataclass(frozen=True, slots=True)
class CacheTtls:
    """Seconds an answer of each kind is reused before the API is asked again."""

    prices: float = 1.0
    book: float = 1.0
    candles: float = 10.0
    indicators: float = 10.0
    trades: float = 1.0
    balance: float = 5.0
    positions: float = 5.0
    status: float = 2.0

    def of(self, kind: Kind) -> float:
        ttl: float = getattr(self, kind)
        return ttl


NO_CACHE = CacheTtls(0, 0, 0, 0, 0, 0, 0, 0)
"""Every kind uncached: each call reaches the API."""

CacheKey = tuple[Kind, str, tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class TtlCache:
    ttls: CacheTtls = field(default_factory=CacheTtls)
    clock: Callable[[], float] = time.monotonic
    max_entries: int = 4096
    hits: int = 0
    misses: int = 0
    _entries: dict[CacheKey, tuple[float, object]] = field(default_factory=dict)

    def get(self, key: CacheKey) -> object | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, key: CacheKey, value: object) -> None:
        ttl = self.ttls.of(key[0])
        if ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._evict()
        self._entries[key] = (self.clock() + ttl, value)

    def clear(self) -> None:
        self._entries.clear()

    def _evict(self) -> None:
        now = self.clock()
        for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
