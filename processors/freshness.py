"""Freshness monitor and dead man's switch: stale feeds, silent producers, connections down.

Pure and deterministic (no clock, no I/O, no faust): the caller passes every time, in
microseconds since the epoch, so the same calls always give the same alerts. The whole state is
a msgspec Struct (`FreshnessState`); `snapshot()` and `restore()` carry it as msgpack bytes.

- Feeds: one per `exchange:symbol:data_type` (`exchange:data_type` when there is no symbol, as
  for balances). `seen()` records data; `check()` raises `stale_data` (warning) once a feed's
  last data is older than its data type's ttl. A feed never seen raises nothing, and a data type
  without a ttl is not monitored.
- Producers: every ConnectionStatus on md.status.v1 (heartbeat or state change) is a sign of
  life. The first one arms the dead man's switch; `check()` raises `producer_silent` (critical)
  once the last one is older than the heartbeat timeout. Data never counts as a heartbeat.
- Connections: a status whose state is DISCONNECTED, RECONNECTING or STOPPED raises `connection`
  (warning), CIRCUIT_OPEN raises it as critical (the producer has given up retrying for a
  while); going from one to the other re-raises it with the new severity. CONNECTED or
  SUBSCRIBED clears it. CONNECTING (a step of a reconnect, or a rejected symbol), RESYNCING (one
  symbol's book, not the connection) and UNKNOWN change nothing. A status older (exchange time)
  than one already applied only counts as a heartbeat, so a replay cannot reopen an alert.
- Each alert is raised once per transition and cleared once (`active=False`, same source, kind
  and severity); repeated checks and heartbeats repeat nothing. The Kafka key is
  `source:kind` (`alert_key`); `seq` is left to the writer, which stamps it per key.
- The monitor's clock is the newest `now_us` given to `check()` or `heartbeat()`; it never goes
  back, and every alert is stamped with it (or a newer data time). Data clears a stale alert only
  if it is fresh by that clock, so catching up on a backlog does not flap. Data times never move
  the clock: one exchange timestamp from the future cannot age every feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import msgspec

from schemas.models import Alert, ConnectionState, ConnectionStatus, Severity

if TYPE_CHECKING:
    from marketdata.config import CacheSettings

US_PER_S: Final = 1_000_000
STALE_DATA: Final = "stale_data"
PRODUCER_SILENT: Final = "producer_silent"
CONNECTION: Final = "connection"

DOWN_STATES: Final[Mapping[ConnectionState, Severity]] = {
    ConnectionState.DISCONNECTED: Severity.WARNING,
    ConnectionState.RECONNECTING: Severity.WARNING,
    ConnectionState.STOPPED: Severity.WARNING,
    ConnectionState.CIRCUIT_OPEN: Severity.CRITICAL,
}
UP_STATES: Final = frozenset({ConnectionState.CONNECTED, ConnectionState.SUBSCRIBED})


class DataType(StrEnum):
    TICKER = "ticker"
    TRADE = "trade"
    BOOK = "book"
    OHLC = "ohlc"
    BALANCE = "balance"


def ttls_from(cache: CacheSettings) -> dict[DataType, float]:
    """The ttl of each data type, from the cache settings answers are marked stale by."""
    return {
        DataType.TICKER: cache.price_ttl_seconds,
        DataType.TRADE: cache.trade_ttl_seconds,
        DataType.BOOK: cache.order_book_ttl_seconds,
        DataType.OHLC: cache.candle_ttl_seconds,
        DataType.BALANCE: cache.balance_ttl_seconds,
    }


def alert_key(alert: Alert) -> str:
    """The Kafka key of an alert: a clear overwrites its raise in the compacted topic."""
    return f"{alert.source}:{alert.kind}"


def feed_source(exchange: str, symbol: str | None, data_type: DataType) -> str:
    """`exchange:symbol:data_type`, or `exchange:data_type` for a feed without a symbol."""
    return ":".join(_feed_parts(exchange, symbol, data_type))


def _feed_parts(exchange: str, symbol: str | None, data_type: DataType) -> tuple[str, ...]:
    return (exchange, data_type) if symbol is None else (exchange, symbol, data_type)


class FeedState(msgspec.Struct, kw_only=True):
    exchange: str
    symbol: str | None
    data_type: DataType
    last_us: int  # newest data time seen
    alert: Alert | None = None  # the active stale_data alert

    @property
    def label(self) -> str:
        return " ".join(_feed_parts(self.exchange, self.symbol, self.data_type))


class ProducerState(msgspec.Struct, kw_only=True):
    exchange: str
    last_us: int  # newest heartbeat, by the monitor's clock
    status_ts: int = 0  # exchange time of the newest status applied to the connection
    down_since_us: int = 0  # when the connection went down (the producer's `since`)
    silent: Alert | None = None  # the active producer_silent alert
    connection: Alert | None = None  # the active connection alert


class FreshnessState(msgspec.Struct, kw_only=True):
    clock_us: int = 0
    feeds: dict[str, FeedState] = msgspec.field(default_factory=dict)
    producers: dict[str, ProducerState] = msgspec.field(default_factory=dict)


def _seconds(us: int) -> float:
    return max(us, 0) / US_PER_S


class FreshnessMonitor:
    """Watches feeds and producers; every method returns the alerts to publish, sorted by key."""

    def __init__(self, ttls: Mapping[DataType, float], heartbeat_timeout_seconds: float) -> None:
        if heartbeat_timeout_seconds <= 0 or any(ttl <= 0 for ttl in ttls.values()):
            raise ValueError("ttls and the heartbeat timeout must be positive")
        self._ttls = {DataType(data_type): float(ttl) for data_type, ttl in ttls.items()}
        self._timeout = float(heartbeat_timeout_seconds)
        self._state = FreshnessState()

    # ---- inputs ---------------------------------------------------------------------------------

    def seen(
        self, exchange: str, symbol: str | None, data_type: DataType, ts_us: int
    ) -> list[Alert]:
        """Data of a feed arrived at `ts_us`; returns the clear of its stale alert, if any."""
        if data_type not in self._ttls:
            return []
        source = feed_source(exchange, symbol, data_type)
        feed = self._state.feeds.get(source)
        if feed is None:
            self._state.feeds[source] = FeedState(
                exchange=exchange, symbol=symbol, data_type=data_type, last_us=ts_us
            )
            return []
        gap_us, feed.last_us = ts_us - feed.last_us, max(feed.last_us, ts_us)
        if feed.alert is None or self._stale(feed, self._state.clock_us):
            return []
        return [self._fresh_again(feed, gap_us, max(ts_us, self._state.clock_us))]

    def heartbeat(self, status: ConnectionStatus, now_us: int) -> list[Alert]:
        """A producer's status arrived at `now_us`: it is alive, and its connection may change."""
        now = self._tick(now_us)
        producer = self._state.producers.get(status.exchange)
        if producer is None:
            producer = self._state.producers[status.exchange] = ProducerState(
                exchange=status.exchange, last_us=now
            )
        out = self._alive(producer, now)
        if status.exchange_ts >= producer.status_ts:
            producer.status_ts = status.exchange_ts
            out += self._connection(producer, status, now)
        return sorted(out, key=alert_key)

    def check(self, now_us: int) -> list[Alert]:
        """Raise what went stale or silent since the last check (each once per transition)."""
        now = self._tick(now_us)
        out = [
            self._silent(producer, now)
            for producer in self._state.producers.values()
            if producer.silent is None and now - producer.last_us > self._timeout_us
        ]
        out += [
            self._went_stale(feed, now)
            for feed in self._state.feeds.values()
            if feed.alert is None and self._stale(feed, now)
        ]
        return sorted(out, key=alert_key)

    # ---- outputs and state ----------------------------------------------------------------------

    def active(self) -> list[Alert]:
        """Every alert currently raised, sorted by key."""
        producers = self._state.producers.values()
        alerts = [p.silent for p in producers] + [p.connection for p in producers]
        alerts += [feed.alert for feed in self._state.feeds.values()]
        return sorted((a for a in alerts if a is not None), key=alert_key)

    def snapshot(self) -> bytes:
        """The whole state as msgpack, for the caller to persist."""
        return msgspec.msgpack.encode(self._state)

    def restore(self, snapshot: bytes) -> None:
        """Continue from a `snapshot()`; the ttls and timeout stay those of this monitor."""
        self._state = msgspec.msgpack.decode(snapshot, type=FreshnessState)

    def restore_active(self, alerts: Iterable[Alert]) -> None:
        """Take over alerts still active in `md.alerts.v1` from before a restart, so the first
        data (or heartbeat) after it clears them instead of leaving them raised for ever."""
        for alert in alerts:
            if not alert.active or alert.exchange is None:
                continue
            if alert.kind == STALE_DATA and alert.data_type in set(DataType):
                data_type = DataType(alert.data_type)
                source = feed_source(alert.exchange, alert.symbol, data_type)
                feed = self._state.feeds.setdefault(
                    source,
                    FeedState(
                        exchange=alert.exchange,
                        symbol=alert.symbol,
                        data_type=data_type,
                        last_us=alert.ts - round((alert.age_seconds or 0) * US_PER_S),
                    ),
                )
                feed.alert = alert
            elif alert.kind in (PRODUCER_SILENT, CONNECTION):
                producer = self._state.producers.setdefault(
                    alert.exchange, ProducerState(exchange=alert.exchange, last_us=alert.ts)
                )
                if alert.kind == PRODUCER_SILENT:
                    producer.silent = alert
                else:
                    producer.connection = alert

    # ---- feeds ----------------------------------------------------------------------------------

    def _stale(self, feed: FeedState, now: int) -> bool:
        ttl = self._ttls.get(feed.data_type)
        return ttl is not None and now - feed.last_us > round(ttl * US_PER_S)

    def _went_stale(self, feed: FeedState, now: int) -> Alert:
        ttl, age = self._ttls[feed.data_type], _seconds(now - feed.last_us)
        what = f"is {age:.1f} s old (ttl {ttl:g} s)"
        feed.alert = self._feed_alert(feed, what, age, now, active=True)
        return feed.alert

    def _fresh_again(self, feed: FeedState, gap_us: int, now: int) -> Alert:
        ttl, gap = self._ttls[feed.data_type], _seconds(gap_us)
        what = f"is fresh again after {gap:.1f} s (ttl {ttl:g} s)"
        feed.alert = None
        return self._feed_alert(feed, what, gap, now, active=False)

    def _feed_alert(
        self, feed: FeedState, what: str, age: float, now: int, *, active: bool
    ) -> Alert:
        return Alert(
            source=feed_source(feed.exchange, feed.symbol, feed.data_type),
            kind=STALE_DATA,
            severity=Severity.WARNING,
            active=active,
            message=f"{feed.label} {what}",
            ts=now,
            exchange=feed.exchange,
            symbol=feed.symbol,
            data_type=feed.data_type.value,
            age_seconds=age,
            ttl_seconds=self._ttls[feed.data_type],
        )

    # ---- producers ------------------------------------------------------------------------------

    @property
    def _timeout_us(self) -> int:
        return round(self._timeout * US_PER_S)

    def _tick(self, now_us: int) -> int:
        self._state.clock_us = max(self._state.clock_us, now_us)
        return self._state.clock_us

    def _alive(self, producer: ProducerState, now: int) -> list[Alert]:
        silence_us, producer.last_us = now - producer.last_us, now
        if producer.silent is None:
            return []
        silence = _seconds(silence_us)
        what = f"is back after {silence:.1f} s of silence"
        producer.silent = None
        return [self._producer_alert(producer, what, silence, now, active=False)]

    def _silent(self, producer: ProducerState, now: int) -> Alert:
        age = _seconds(now - producer.last_us)
        what = f"is silent: last heartbeat {age:.1f} s ago"
        producer.silent = self._producer_alert(producer, what, age, now, active=True)
        return producer.silent

    def _producer_alert(
        self, producer: ProducerState, what: str, age: float, now: int, *, active: bool
    ) -> Alert:
        return Alert(
            source=producer.exchange,
            kind=PRODUCER_SILENT,
            severity=Severity.CRITICAL,
            active=active,
            message=f"{producer.exchange} producer {what} (timeout {self._timeout:g} s)",
            ts=now,
            exchange=producer.exchange,
            age_seconds=age,
            ttl_seconds=self._timeout,
        )

    # ---- connections ----------------------------------------------------------------------------

    def _connection(
        self, producer: ProducerState, status: ConnectionStatus, now: int
    ) -> list[Alert]:
        severity = DOWN_STATES.get(status.state)
        current = producer.connection
        if severity is not None and (current is None or current.severity != severity):
            return [self._down(producer, status, severity, now)]
        if status.state in UP_STATES and current is not None:
            return [self._up(producer, current, status, now)]
        return []

    def _down(
        self, producer: ProducerState, status: ConnectionStatus, severity: Severity, now: int
    ) -> Alert:
        if producer.connection is None:
            producer.down_since_us = status.since
        age = _seconds(now - producer.down_since_us)
        detail = f": {status.detail}" if status.detail and status.detail != "heartbeat" else ""
        what = f"is {status.state} for {age:.1f} s{detail}"
        producer.connection = _connection_alert(producer.exchange, severity, what, age, now)
        return producer.connection

    def _up(
        self, producer: ProducerState, down: Alert, status: ConnectionStatus, now: int
    ) -> Alert:
        age = _seconds(now - producer.down_since_us)
        what = f"is {status.state} again after {age:.1f} s down"
        producer.connection = None
        return _connection_alert(producer.exchange, down.severity, what, age, now, active=False)


def _connection_alert(
    exchange: str, severity: Severity, what: str, age: float, now: int, *, active: bool = True
) -> Alert:
    return Alert(
        source=exchange,
        kind=CONNECTION,
        severity=severity,
        active=active,
        message=f"{exchange} connection {what}",
        ts=now,
        exchange=exchange,
        age_seconds=age,
    )
