"""The publisher's bounded backlog: every record not yet acknowledged by Kafka, and what gives way
when Kafka cannot take records for long enough that the bound is reached.

Records wait here in publish order (per key, the order of their sequence numbers) until the
publisher hands them to the Kafka client; handed records stay counted until acknowledged. The
backlog holds at most `max_records` records and `max_bytes` bytes. Within the bound nothing is
shed: a short outage (a broker restart, a leader election) costs latency, not data. When a record
does not fit, room is made by the cheapest loss first:

1. Tickers conflate (`Policy.LATEST`): a waiting ticker is superseded by a newer one of its key.
   Each is a full state, so only stale intermediate values go.
2. Raw frames go (`Policy.AUDIT`), oldest first: they are copies of what the unified topics
   carry, for audit and replay; the copies of the outage window are lost, not the facts.
3. Book updates go a whole symbol at a time (`Policy.BOOK`): deltas depend on each other, so a
   symbol's waiting updates are dropped together and the key is *gated* (its later deltas are
   dropped too) until a fresh snapshot arrives, which the publisher asks for on recovery. The
   topic shows the gap, then a snapshot: a reader's book is never built on missing deltas.
4. Facts (`Policy.KEEP`: trades, candles, balances, status, control answers) are never shed:
   when only they are left, `admit` answers FULL and the publisher waits (back-pressure reaches
   the exchange reader; what the exchange sends meanwhile is lost at the source and shows as a
   trade-id gap, which the adapter reports).

Every record shed leaves a gap in its key's sequence numbers and is counted by topic and reason,
so a reader can tell loss by policy from loss by fault, and the outage report names it all.
Pure: no I/O, no clock, no asyncio.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from enum import Enum, IntEnum
from typing import Any

import msgspec

from schemas import topics

ENTRY_OVERHEAD = 96
"""Bytes a waiting record costs beyond its key and value (the entry and its bookkeeping)."""


class Policy(IntEnum):
    """What may happen to a record while it waits; a higher value gives way first."""

    KEEP = 0
    LATEST = 1
    BOOK = 2
    AUDIT = 3


POLICIES: dict[str, Policy] = {
    topics.TICKER.name: Policy.LATEST,
    topics.BOOK.name: Policy.BOOK,
    topics.RAW.name: Policy.AUDIT,
}


def policy_of(topic: str, *, books_repairable: bool) -> Policy:
    """A book update may be shed only when someone will ask for fresh snapshots; else it waits
    like a fact."""
    policy = POLICIES.get(topic, Policy.KEEP)
    return Policy.KEEP if policy is Policy.BOOK and not books_repairable else policy


class State(Enum):
    QUEUED = "queued"  # waiting in the backlog
    SENDING = "sending"  # being handed to the Kafka client
    IN_FLIGHT = "in_flight"  # handed; counted until acknowledged
    FAILED = "failed"  # the client gave up on it; to be sent again
    DONE = "done"  # acknowledged
    SHED = "shed"  # dropped by policy (or rejected by Kafka), counted


class Shed(Enum):
    """Why a record was dropped (a closed set: metric labels)."""

    SUPERSEDED = "superseded"  # a newer ticker of the key was waiting
    AUDIT = "audit"  # a raw frame, to make room
    BOOK_RESYNC = "book_resync"  # a waiting book update, shed with its symbol's others
    AWAITING_SNAPSHOT = "awaiting_snapshot"  # a book update after its symbol's were shed
    BUFFER_FULL = "buffer_full"  # no room and nothing cheaper to drop
    REJECTED = "rejected"  # Kafka refused the record itself (e.g. too large)


PRESSURE: frozenset[Shed] = frozenset(
    {Shed.SUPERSEDED, Shed.AUDIT, Shed.BOOK_RESYNC, Shed.BUFFER_FULL}
)
"""Reasons that mean the backlog is full, i.e. Kafka is not keeping up."""


class Admission(Enum):
    ACCEPTED = "accepted"
    SHED = "shed"
    FULL = "full"  # a fact without room: wait for room and ask again


class Entry(msgspec.Struct):
    order: int
    topic: str
    key: str
    value: bytes
    timestamp_ms: int
    since: float
    """When publish() took it (the publisher's monotonic clock)."""
    policy: Policy = Policy.KEEP
    snapshot: bool = False
    """A book snapshot: it ends its key's gate."""
    symbol: str = ""
    """The instrument of a book update (what a resync asks for)."""
    seq: int = 0
    """The record's per-key sequence number (how it is recognised in Kafka)."""
    state: State = State.QUEUED
    record: Any = None
    """A book delta's record while it may still take the next delta of its key (publisher)."""

    @property
    def size(self) -> int:
        return len(self.value) + len(self.key) + ENTRY_OVERHEAD


class Backlog:
    def __init__(
        self,
        max_records: int,
        max_bytes: int,
        on_shed: Callable[[Entry, Shed], None] = lambda _entry, _reason: None,
    ) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.records = 0
        self.bytes = 0
        self.shed: Counter[tuple[str, Shed]] = Counter()
        self.gated: dict[str, str] = {}
        """Book key → symbol: updates are dropped until the key's next snapshot."""
        self.conflating = False
        self._queue: deque[Entry] = deque()
        self._latest: dict[tuple[str, str], Entry] = {}
        self._audit: deque[Entry] = deque()
        self._books: deque[Entry] = deque()
        self._in_flight: dict[int, Entry] = {}
        self._failed: list[Entry] = []
        self._sending: Entry | None = None
        self._on_shed = on_shed

    # ---- admission ------------------------------------------------------------------------------

    def admit(self, entry: Entry) -> Admission:
        if entry.policy is Policy.BOOK:
            if entry.snapshot:
                self.gated.pop(entry.key, None)
            elif entry.key in self.gated:
                return self._refuse(entry, Shed.AWAITING_SNAPSHOT)
        if entry.policy is Policy.LATEST and self.conflating:
            self._supersede(entry)
        if not self._fits(entry):
            self._make_room(entry)
        if entry.policy is Policy.BOOK and not entry.snapshot and entry.key in self.gated:
            return self._refuse(entry, Shed.AWAITING_SNAPSHOT)  # its predecessors were just shed
        if self._fits(entry):
            self._accept(entry)
            return Admission.ACCEPTED
        if entry.policy is Policy.KEEP:
            return Admission.FULL
        if entry.policy is Policy.BOOK:
            self._gate(entry)
            return self._refuse(entry, Shed.BOOK_RESYNC)
        return self._refuse(entry, Shed.AUDIT if entry.policy is Policy.AUDIT else Shed.BUFFER_FULL)

    def _fits(self, entry: Entry) -> bool:
        return self.records < self.max_records and self.bytes + entry.size <= self.max_bytes

    def _accept(self, entry: Entry) -> None:
        entry.state = State.QUEUED
        self.records += 1
        self.bytes += entry.size
        self._queue.append(entry)
        if entry.policy is Policy.LATEST and self.conflating:
            self._latest[(entry.topic, entry.key)] = entry
        elif entry.policy is Policy.AUDIT:
            _let_go_of_done(self._audit)
            self._audit.append(entry)
        elif entry.policy is Policy.BOOK:
            _let_go_of_done(self._books)
            self._books.append(entry)

    def _refuse(self, entry: Entry, reason: Shed) -> Admission:
        entry.state = State.SHED
        self.shed[(entry.topic, reason)] += 1
        self._on_shed(entry, reason)
        entry.value = b""
        return Admission.SHED

    def _drop(self, entry: Entry, reason: Shed) -> None:
        """Shed a waiting entry: it stays in the queue as a tombstone the sender skips."""
        self.records -= 1
        self.bytes -= entry.size
        self._refuse(entry, reason)

    def _make_room(self, entry: Entry) -> None:
        """Cheapest loss first; a raw frame never displaces anything (it is refused instead)."""
        if not self.conflating:
            self._start_conflating()
        if entry.policy is Policy.AUDIT:
            return
        while self._audit and not self._fits(entry):
            oldest = self._audit.popleft()
            if oldest.state is State.QUEUED:
                self._drop(oldest, Shed.AUDIT)
        if not self._fits(entry):
            self._shed_books()

    def _start_conflating(self) -> None:
        self.conflating = True
        for entry in list(self._queue):  # a copy: shedding calls back, which may trim the queue
            if entry.policy is Policy.LATEST and entry.state is State.QUEUED:
                self._supersede(entry)
                self._latest[(entry.topic, entry.key)] = entry

    def _supersede(self, entry: Entry) -> None:
        older = self._latest.pop((entry.topic, entry.key), None)
        if older is not None and older.state is State.QUEUED:
            self._drop(older, Shed.SUPERSEDED)

    def _shed_books(self) -> None:
        """Every waiting book update goes, and its key waits for a snapshot."""
        while self._books:
            entry = self._books.popleft()
            if entry.state is State.QUEUED:
                self._gate(entry)
                self._drop(entry, Shed.BOOK_RESYNC)

    def _gate(self, entry: Entry) -> None:
        self.gated[entry.key] = entry.symbol

    def revalue(self, entry: Entry, value: bytes) -> None:
        """A waiting entry's value replaced (a book delta that took the next one of its key)."""
        if entry.state is not State.QUEUED:
            raise ValueError(f"only a waiting entry changes, not a {entry.state.value} one")
        self.bytes += len(value) - len(entry.value)
        entry.value = value

    # ---- the way to Kafka -----------------------------------------------------------------------

    def next(self) -> Entry | None:
        """The oldest waiting entry, now being handed to Kafka (or None)."""
        while self._queue:
            entry = self._queue.popleft()
            if entry.state is State.QUEUED:
                entry.state = State.SENDING
                self._sending = entry
                return entry
        return None

    def unsend(self, entry: Entry) -> None:
        """The client did not take it: first in line again."""
        entry.state = State.QUEUED
        self._sending = None
        self._queue.appendleft(entry)

    def sent(self, entry: Entry) -> None:
        entry.state = State.IN_FLIGHT
        self._sending = None
        self._in_flight[entry.order] = entry

    def acked(self, entry: Entry) -> None:
        if self._in_flight.pop(entry.order, None) is None:
            return
        entry.state = State.DONE
        self.records -= 1
        self.bytes -= entry.size

    def failed(self, entry: Entry) -> None:
        """The client gave up on it after handing it over: it goes again, in its place."""
        if self._in_flight.pop(entry.order, None) is None:
            return
        entry.state = State.FAILED
        self._failed.append(entry)

    def rejected(self, entry: Entry) -> None:
        """Kafka refused the record itself (when handed over or later): resending cannot help."""
        if entry.state is State.SENDING:
            self._sending = None
        elif self._in_flight.pop(entry.order, None) is None:
            return
        self._drop(entry, Shed.REJECTED)

    @property
    def failed_entries(self) -> list[Entry]:
        return list(self._failed)

    def written(self, orders: set[int]) -> int:
        """Failed entries found in Kafka after all (their acknowledgement was lost): delivered."""
        found = [e for e in self._failed if e.order in orders]
        self._failed = [e for e in self._failed if e.order not in orders]
        for entry in found:
            entry.state = State.DONE
            self.records -= 1
            self.bytes -= entry.size
        return len(found)

    def requeue_failed(self) -> int:
        """Failed entries first in line again, in their original order; returns how many."""
        failed = sorted(self._failed, key=lambda e: e.order)
        self._failed.clear()
        for entry in reversed(failed):
            entry.state = State.QUEUED
            self._queue.appendleft(entry)
        return len(failed)

    # ---- what is left ---------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def has_failed(self) -> bool:
        return bool(self._failed)

    @property
    def waiting(self) -> bool:
        return any(e.state is State.QUEUED for e in self._head())

    def _head(self) -> Iterator[Entry]:
        """The queue from its first live entry (tombstones at the front are let go)."""
        while self._queue and self._queue[0].state is not State.QUEUED:
            self._queue.popleft()
        return iter(self._queue)

    def oldest_since(self) -> float | None:
        """When the oldest record not yet acknowledged was published (None: nothing is left)."""
        candidates: list[float] = [e.since for e in self._failed]
        if self._sending is not None:
            candidates.append(self._sending.since)
        if self._in_flight:  # in hand-over order: the first is the oldest
            candidates.append(next(iter(self._in_flight.values())).since)
        head = next(self._head(), None)
        if head is not None:
            candidates.append(head.since)
        return min(candidates, default=None)

    def end_pressure(self) -> None:
        """Kafka caught up: tickers stop conflating (gates stay until their snapshots)."""
        self.conflating = False
        self._latest.clear()


def _let_go_of_done(entries: deque[Entry]) -> None:
    """Drop the entries at the front that no longer wait (sent, acknowledged or shed).

    The raw-frame and book indexes only serve shedding, which acts on waiting entries; entries
    leave the queue in order, so trimming the front on every append keeps each index as long as
    the entries still waiting, not every record ever published (with their payloads)."""
    while entries and entries[0].state is not State.QUEUED:
        entries.popleft()
