"""The processors' Prometheus metrics (`marketdata_processor_*`)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True, slots=True)
class ProcessorMetrics:
    events: Counter
    lag: Histogram
    table_size: Gauge
    late_trades: Counter
    dead_letters: Counter
    replays: Counter
    candles_closed: Counter
    reconciled: Counter
    mismatches: Counter
    gaps_filled: Counter
    alerts: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> ProcessorMetrics:
        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"marketdata_processor_{name}", doc, labels, registry=registry)

        return cls(
            events=counter("events_total", "Records processed per agent.", ("agent",)),
            lag=Histogram(
                "marketdata_processor_lag_seconds",
                "From the producer receiving a record to its processing here.",
                ["agent"],
                buckets=_LAG_BUCKETS,
                registry=registry,
            ),
            table_size=Gauge(
                "marketdata_processor_table_keys",
                "Keys held per table on this worker.",
                ["table"],
                registry=registry,
            ),
            late_trades=counter(
                "late_trades_total", "Trades later than the grace period, dropped.", ("timeframe",)
            ),
            dead_letters=counter(
                "dead_letters_total", "Undecodable records sent to <topic>.dlq.", ("topic",)
            ),
            replays=counter(
                "replays_total", "Records skipped as already applied (after a restart).", ("agent",)
            ),
            candles_closed=counter("candles_closed_total", "Closed candles.", ("timeframe",)),
            reconciled=counter(
                "candles_reconciled_total", "Closed 1m candles equal to the exchange's.", ()
            ),
            mismatches=counter(
                "candle_mismatches_total", "Closed 1m candles that differ from the exchange's.", ()
            ),
            gaps_filled=counter(
                "candle_gaps_filled_total", "1m windows filled from the exchange's candles.", ()
            ),
            alerts=counter("alerts_total", "Alerts raised or cleared.", ("kind", "active")),
        )
