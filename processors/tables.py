"""Changelog-backed tables holding msgspec state, with a decoded cache in front and the writes
batched behind it.

A faust table stores bytes (msgpack of our own Structs: exact, compact, no pickle). Decoding a
value on every event would cost more than the work itself, so each table keeps the decoded
objects of the keys this worker owns; the cache is dropped on every rebalance (the owner of a key
may change) and refilled from the table, which faust restores from its changelog.

Encoding and sending a key's whole state on every event would cost more again (a book moves on
every update), so writes are batched (`WriteBehind`): a put marks the key dirty, and a flush,
at most `changelogFlushMs` later, encodes each dirty key's latest state once and sends it to the
changelog. The input records behind those writes are acknowledged only after that flush, and
faust flushes its producer before it commits an offset, so a committed offset never runs ahead
of the state in the changelog: after a crash the records since are processed again, and the
offsets each state remembers tell which of them it holds already.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import faust
import msgspec
from faust.streams import current_event
from faust.types import TableT


class Acknowledgeable(Protocol):
    def ack(self) -> bool: ...


class WriteBehind:
    """The tables of one worker, and the input records whose effects they hold unsent."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._tables: list[StateTable[Any]] = []
        self._held: list[Acknowledgeable] = []
        self._due = 0.0

    def register(self, table: StateTable[Any]) -> None:
        self._tables.append(table)

    def hold(self, event: Acknowledgeable) -> None:
        """`event` has been processed: acknowledge it with the next flush (now, if one is due)."""
        self._held.append(event)
        if time.monotonic() >= self._due:
            self.flush()

    def flush(self) -> None:
        """Send every dirty key's state to its changelog, then acknowledge the records held.
        Synchronous, so no record is processed in between."""
        for table in self._tables:
            table.flush()
        held, self._held = self._held, []
        for event in held:
            event.ack()
        self._due = time.monotonic() + self.interval_s

    @property
    def held(self) -> int:
        return len(self._held)


class StateTable[S: msgspec.Struct]:
    def __init__(
        self,
        app: faust.App,
        name: str,
        cls: type[S],
        writes: WriteBehind,
        partitions: int = 3,
    ) -> None:
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
        self._dirty: dict[bytes, tuple[int, S, Callable[[S], Any] | None]] = {}
        writes.register(self)

    def get(self, key: bytes) -> S | None:
        state = self._cache.get(key)
        if state is None:
            raw = self.table.get(key)
            if raw is None:
                return None
            state = self._cache[key] = self._decoder.decode(raw)
        return state

    def put(self, key: bytes, state: S, view: Callable[[S], Any] | None = None) -> None:
        """Keep `state` as the key's value; the next flush writes it (or `view(state)`, a
        lighter view of it, made then) to the table and its changelog. Only while a record is
        processed: the changelog partition is that record's (the tables are co-partitioned
        with their inputs)."""
        event = current_event()
        if event is None:
            raise RuntimeError(f"{self.name}: a table is written only while a record is processed")
        self._cache[key] = state
        self._dirty[key] = (event.message.partition, state, view)

    def flush(self) -> None:
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        encode, data, send = self._encoder.encode, self.table.data, self.table.send_changelog
        for key, (partition, state, view) in dirty.items():
            raw = encode(state if view is None else view(state))
            data[key] = raw
            send(partition, key, raw)

    def forget(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self.owned_keys_set())

    def owned_keys_set(self) -> set[bytes]:
        return set(self.table.keys()) | set(self._dirty)

    def owned_keys(self) -> Iterator[bytes]:
        """The keys of the partitions this worker holds (a copy: safe to write while iterating)."""
        return iter(sorted(self.owned_keys_set()))
