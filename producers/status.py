"""Connection status and heartbeats on md.status.v1, and the producer's metrics.

Every state change of a connection (connecting, connected, subscribed, disconnected,
reconnecting with attempt and delay, resyncing a symbol, circuit changes) becomes a
ConnectionStatus record; a heartbeat record goes out every few seconds while the producer lives,
carrying the last message age and rate-limit usage, so a dead man's switch downstream can tell a
quiet market from a dead producer. When a Kafka outage ends, a record in the connection's current
state carries the outage report as its detail (`kafka outage: ...`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from marketdata.logs import get_logger
from producers.outage import OutageReport
from producers.publish import Publisher
from schemas import topics
from schemas.models import CircuitState, ConnectionState, ConnectionStatus

log = get_logger("producers.status")


def now_us() -> int:
    return time.time_ns() // 1000


class ProducerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["exchange", "channel"]
        self.messages = Counter(
            "marketdata_producer_messages_total",
            "Exchange frames received.",
            labels,
            registry=registry,
        )
        self.parse_errors = Counter(
            "marketdata_producer_parse_errors_total",
            "Frames that could not be parsed.",
            ["exchange"],
            registry=registry,
        )
        self.reconnects = Counter(
            "marketdata_producer_reconnects_total",
            "WebSocket reconnect attempts.",
            ["exchange"],
            registry=registry,
        )
        self.checksum_failures = Counter(
            "marketdata_producer_checksum_failures_total",
            "Book checksum mismatches.",
            ["exchange"],
            registry=registry,
        )
        self.resyncs = Counter(
            "marketdata_producer_resyncs_total",
            "Per-symbol book resyncs.",
            ["exchange"],
            registry=registry,
        )
        self.last_message_age = Gauge(
            "marketdata_producer_last_message_age_seconds",
            "Seconds since the last frame.",
            ["exchange"],
            registry=registry,
        )
        self.gaps = Counter(
            "marketdata_producer_gaps_total",
            "Sequence gaps and duplicates seen in exchange data.",
            ["exchange", "kind"],
            registry=registry,
        )
        self.conflated = Counter(
            "marketdata_producer_conflated_records_total",
            "Forming records replaced by a newer one of the same window before publish().",
            ["exchange", "topic"],
            registry=registry,
        )
        self.rate_limit_used = Gauge(
            "marketdata_producer_rate_limit_used_ratio",
            "REST call counter in use, 0..1.",
            ["exchange"],
            registry=registry,
        )


class StatusReporter:
    """Builds and publishes ConnectionStatus records for one exchange."""

    def __init__(
        self,
        exchange: str,
        publisher: Publisher,
        *,
        rate_limit_used: Callable[[], float] = lambda: 0.0,
        circuit: Callable[[], CircuitState] = lambda: CircuitState.CLOSED,
    ) -> None:
        self.exchange = exchange
        self._publisher = publisher
        self._rate_limit_used = rate_limit_used
        self._circuit = circuit
        self.state = ConnectionState.CONNECTING
        self.since = now_us()
        self.reconnects = 0
        self.last_message_ts: int | None = None

    def bind(
        self,
        *,
        rate_limit_used: Callable[[], float],
        circuit: Callable[[], CircuitState],
    ) -> None:
        """Let the adapter's REST client feed rate-limit usage and circuit state into reports."""
        self._rate_limit_used = rate_limit_used
        self._circuit = circuit

    async def report(
        self,
        state: ConnectionState,
        detail: str = "",
        *,
        attempt: int | None = None,
        delay_seconds: float | None = None,
        symbol: str | None = None,
    ) -> None:
        ts = now_us()
        if state is ConnectionState.RECONNECTING:
            self.reconnects += 1
        if state is not ConnectionState.RESYNCING and state is not self.state:
            self.state, self.since = state, ts
        record = self._record(
            state, ts, detail, attempt=attempt, delay_seconds=delay_seconds, symbol=symbol
        )
        if detail != "heartbeat":
            log.info(
                "connection.state_changed",
                exchange=self.exchange,
                state=state.value,
                detail=detail,
                symbol=symbol,
                attempt=attempt,
            )
        await self._publisher.publish(topics.STATUS, self.exchange, record, ts)

    def rate_limit_used(self) -> float:
        return self._rate_limit_used()

    def _record(
        self,
        state: ConnectionState,
        ts: int,
        detail: str,
        *,
        attempt: int | None = None,
        delay_seconds: float | None = None,
        symbol: str | None = None,
    ) -> ConnectionStatus:
        """A status record: `state` and `detail` with what the reporter knows of the connection."""
        return ConnectionStatus(
            exchange=self.exchange,
            state=state,
            since=self.since,
            exchange_ts=ts,
            received_ts=ts,
            reconnects=self.reconnects,
            last_message_ts=self.last_message_ts,
            circuit=self._circuit(),
            rate_limit_used=round(self._rate_limit_used(), 4),
            attempt=attempt,
            delay_seconds=delay_seconds,
            symbol=symbol,
            detail=detail[:500],
        )

    async def kafka_outage(self, report: OutageReport) -> None:
        """What Kafka's absence cost, once it is over. The exchange connection's state is repeated
        as it is: the outage was Kafka's, so it neither raises nor clears a connection alert."""
        ts = now_us()
        record = self._record(self.state, ts, report.summary())
        log.warning(
            "kafka.outage_reported",
            exchange=self.exchange,
            seconds=round(report.seconds, 2),
            shed=report.shed_records,
            resync=list(report.resync),
        )
        await self._publisher.publish(topics.STATUS, self.exchange, record, ts)

    async def heartbeat(self) -> None:
        """The current state again: the compacted topic's latest record stays truthful."""
        await self.report(self.state, "heartbeat")
