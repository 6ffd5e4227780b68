"""Changelog-backed tables holding msgspec state, with a decoded cache in front.

A faust table stores bytes (msgpack of our own Structs: exact, compact, no pickle). Decoding a
value on every event would cost more than the work itself, so each table keeps the decoded
objects of the keys this worker owns; the cache is dropped on every rebalance (the owner of a key
may change) and refilled from the table, which faust restores from its changelog.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust
import msgspec
from faust.types import TableT


class StateTable[S: msgspec.Struct]:
    def __init__(self, app: faust.App, name: str, cls: type[S], partitions: int = 3) -> None:
        self.name = name
        self._cls = cls
        self._decoder = msgspec.msgpack.Decoder(cls)
        self._encoder = msgspec.msgpack.Encoder()
        self.table: TableT[bytes, bytes] = app.Table(
            name,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
        )
        self._cache: dict[bytes, S] = {}

    def get(self, key: bytes) -> S | None:
        state = self._cache.get(key)
        if state is None:
            raw = self.table.get(key)
            if raw is None:
                return None
            state = self._cache[key] = self._decoder.decode(raw)
        return state

    def put(self, key: bytes, state: S, stored: Any = None) -> None:
        """Write `state` (or `stored`, a lighter view of it) to the table and its changelog."""
        self._cache[key] = state
        self.table[key] = self._encoder.encode(state if stored is None else stored)

    def forget(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self.table)

    def owned_keys(self) -> Iterator[bytes]:
        """The keys of the partitions this worker holds (a copy: safe to write while iterating)."""
        return iter(list(self.table.keys()))
