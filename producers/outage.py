"""Kafka outages as a producer sees them: when one began, when Kafka took records again, what
the backlog held and what was shed, which books were resynced.

Kafka is *unavailable* while a record stays unacknowledged longer than `outageAfterSeconds`; the
outage ends once nothing older than that is left (the backlog caught up). While it lasts, the
gauges say so and a warning is logged every few seconds; at its end the OutageReport goes to the
listeners (the runner publishes `summary()` as the detail of a ConnectionStatus on md.status.v1)
and every book whose updates were shed is asked for a fresh snapshot.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import msgspec

from marketdata.logs import get_logger
from producers.backlog import PRESSURE, Backlog, Entry, Shed

if TYPE_CHECKING:
    from producers.publish import PublishMetrics

log = get_logger("producers.outage")

_MB: Final = 1024 * 1024
LOG_EVERY_SECONDS: Final = 5.0


class ShedCount(msgspec.Struct, frozen=True):
    topic: str
    reason: str
    records: int


class OutageReport(msgspec.Struct, frozen=True, kw_only=True):
    started_us: int
    """Wall time the oldest unacknowledged record was published."""
    available_us: int | None
    """Wall time Kafka acknowledged a record again (None: it never did before the report)."""
    ended_us: int
    """Wall time the backlog caught up."""
    peak_records: int
    peak_bytes: int
    shed: tuple[ShedCount, ...] = ()
    resync: tuple[str, ...] = ()
    """Symbols whose book updates were shed: each gets a fresh snapshot."""
    client_restarts: int = 0
    """Kafka clients replaced because the old one could not deliver any more (see publish.py)."""
    waited_seconds: float = 0.0
    """Time facts waited for room in a full backlog (back-pressure)."""

    @property
    def unavailable_seconds(self) -> float:
        until = self.available_us if self.available_us is not None else self.ended_us
        return max(0.0, (until - self.started_us) / 1e6)

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended_us - self.started_us) / 1e6)

    @property
    def shed_records(self) -> int:
        return sum(s.records for s in self.shed)

    def summary(self) -> str:
        shed = ", ".join(f"{s.topic} {s.reason} {s.records}" for s in self.shed) or "none"
        started = time.strftime("%H:%M:%S", time.gmtime(self.started_us / 1e6))
        return (
            f"kafka outage: unavailable {self.unavailable_seconds:.1f} s from {started}Z, "
            f"caught up after {self.seconds:.1f} s; peak backlog {self.peak_records} records "
            f"/ {self.peak_bytes / _MB:.1f} MB; shed {self.shed_records} ({shed}); "
            f"book resync: {', '.join(self.resync) or 'none'}; "
            f"client restarts {self.client_restarts}; facts waited {self.waited_seconds:.1f} s"
        )


OutageListener = Callable[[OutageReport], Awaitable[None]]
BookResync = Callable[[str, str], Awaitable[None]]
"""Ask the adapter for a fresh book snapshot: (symbol, reason)."""


class Outage:
    """One outage while it lasts: the figures its report will carry."""

    def __init__(self, started_us: int, records: int, size: int) -> None:
        self.started_us = started_us
        self.available_us: int | None = None
        self.peak_records = records
        self.peak_bytes = size
        self.shed: Counter[tuple[str, Shed]] = Counter()
        self.resync: set[str] = set()
        self.client_restarts = 0
        self.waited_seconds = 0.0
        self.logged_at = 0.0

    def backlog(self, records: int, size: int) -> None:
        self.peak_records = max(self.peak_records, records)
        self.peak_bytes = max(self.peak_bytes, size)

    def acknowledged(self, now_us: int) -> None:
        if self.available_us is None:
            self.available_us = now_us

    def report(self, ended_us: int) -> OutageReport:
        return OutageReport(
            started_us=self.started_us,
            available_us=self.available_us,
            ended_us=ended_us,
            peak_records=self.peak_records,
            peak_bytes=self.peak_bytes,
            shed=tuple(
                ShedCount(topic, reason.value, n)
                for (topic, reason), n in sorted(
                    self.shed.items(), key=lambda i: (i[0][0], i[0][1].value)
                )
            ),
            resync=tuple(sorted(self.resync)),
            client_restarts=self.client_restarts,
            waited_seconds=round(self.waited_seconds, 3),
        )


class OutageWatch:
    """Starts, follows and ends outages from the age of the oldest unacknowledged record."""

    def __init__(
        self,
        backlog: Backlog,
        metrics: PublishMetrics,
        *,
        after_seconds: float,
        clock: Callable[[], int],
        monotonic: Callable[[], float],
    ) -> None:
        self.current: Outage | None = None
        self._backlog = backlog
        self._metrics = metrics
        self._after = after_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._listeners: list[OutageListener] = []
        self._resync: BookResync | None = None
        self._asked: set[str] = set()

    def on_end(self, listener: OutageListener) -> None:
        self._listeners.append(listener)

    def on_book_gap(self, resync: BookResync) -> None:
        self._resync = resync

    @property
    def books_repairable(self) -> bool:
        return self._resync is not None

    @property
    def holding(self) -> bool:
        """Kafka has not answered since the outage began: records had better wait in the backlog."""
        return self.current is not None and self.current.available_us is None

    def acknowledged(self) -> None:
        if self.current is not None:
            self.current.acknowledged(self._clock())

    def shed(self, entry: Entry, reason: Shed) -> None:
        """A full backlog means Kafka is not keeping up, whether the outage was declared yet or
        not: it begins now, so the report counts every record shed for it."""
        if self.current is None and reason in PRESSURE:
            now = self._monotonic()
            oldest = self._backlog.oldest_since()
            self._begin(now, 0.0 if oldest is None else now - oldest)
        if self.current is not None:
            self.current.shed[(entry.topic, reason)] += 1
            if reason in (Shed.BOOK_RESYNC, Shed.AWAITING_SNAPSHOT):
                self.current.resync.add(entry.symbol)

    def waited(self, seconds: float) -> None:
        if self.current is not None:
            self.current.waited_seconds += seconds

    def client_restarted(self) -> None:
        if self.current is not None:
            self.current.client_restarts += 1

    async def check(self, *, settled: bool) -> None:
        """One look at the backlog; `settled`: no client replacement is under way."""
        now = self._monotonic()
        oldest = self._backlog.oldest_since()
        age = 0.0 if oldest is None else now - oldest
        records, size = self._backlog.records, self._backlog.bytes
        self._metrics.buffered_records.set(records)
        self._metrics.buffered_bytes.set(size)
        outage = self.current
        if outage is None:
            if age > self._after:
                self._begin(now, age)
                return
            if self._backlog.conflating:
                self._backlog.end_pressure()
            await self._resync_books()
            return
        outage.backlog(records, size)
        seconds = (self._clock() - outage.started_us) / 1e6
        self._metrics.outage_seconds.set(seconds)
        if age <= self._after and settled:
            await self._end()
        elif now - outage.logged_at >= LOG_EVERY_SECONDS:
            outage.logged_at = now
            log.warning(
                "kafka.outage_continues",
                seconds=round(seconds, 1),
                records=records,
                bytes=size,
                shed=sum(outage.shed.values()),
                kafka_answering=outage.available_us is not None,
            )

    def _begin(self, now: float, age: float) -> None:
        records, size = self._backlog.records, self._backlog.bytes
        self.current = Outage(self._clock() - int(age * 1e6), records, size)
        self.current.logged_at = now
        self._metrics.kafka_up.set(0)
        self._metrics.outages.inc()
        log.warning(
            "kafka.outage_started", unacknowledged_for=round(age, 2), records=records, bytes=size
        )

    async def _end(self) -> None:
        assert self.current is not None
        report = self.current.report(self._clock())
        self.current = None
        self._backlog.end_pressure()
        self._metrics.kafka_up.set(1)
        self._metrics.outage_seconds.set(0)
        log.warning("kafka.outage_ended", summary=report.summary())
        for listener in self._listeners:
            await listener(report)
        await self._resync_books()

    async def _resync_books(self) -> None:
        """A fresh snapshot for every gated book, asked once per gate (never during an outage:
        the snapshot could not reach Kafka either, and the deltas after it would pile up)."""
        gated = self._backlog.gated
        self._asked &= set(gated)
        if self._resync is None:
            return
        for key, symbol in list(gated.items()):
            if key not in self._asked:
                self._asked.add(key)
                await self._resync(symbol, "resync: book updates shed while Kafka was unavailable")
