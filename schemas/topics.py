"""Every Kafka topic of the system, declared once.

Nothing else in the code base spells a topic name: producers, processors, the API, the tests and the
topic administration all take names from here. Raw facts are append-only and retained for a time;
tables are compacted to the latest value per key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

_HOUR_MS: Final = 3_600_000
_DAY_MS: Final = 24 * _HOUR_MS


class Cleanup(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


class Kind(StrEnum):
    RAW = "raw"  # facts as they arrive from an exchange (append-only)
    TABLE = "table"  # materialized views: latest value per key
    CONTROL = "control"  # desired state written by the API, read by producers
    DLQ = "dlq"  # records a consumer could not decode, with the reason


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic's name, the record type it carries and how the broker keeps it."""

    name: str
    record: str  # Avro record name (== the unified model class name) of the values
    kind: Kind
    key: str  # how the key is built, for humans: "{exchange}:{symbol}"
    partitions: int
    cleanup: Cleanup
    retention_ms: int | None = None  # None: the broker's default (kept forever when compacted)
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self, replication_factor: int) -> dict[str, str]:
        """Topic-level configs for CreateTopics, for a cluster of the given replication factor."""
        cfg = {
            "cleanup.policy": self.cleanup.value,
            "min.insync.replicas": str(min(2, replication_factor)),
        }
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        if self.cleanup is Cleanup.COMPACT:
            # Keep compaction reasonably prompt so a restarted reader replays little.
            cfg.setdefault("min.compaction.lag.ms", "60000")
            cfg.setdefault("max.compaction.lag.ms", str(_HOUR_MS))
            cfg.setdefault("segment.ms", str(_HOUR_MS))
        cfg.update(self.extra)
        return cfg


def _raw(
    name: str,
    record: str,
    key: str,
    days: int,
    timestamps: str = "CreateTime",
) -> TopicSpec:
    return TopicSpec(
        name,
        record,
        Kind.RAW,
        key,
        3,
        Cleanup.DELETE,
        days * _DAY_MS,
        {"segment.ms": str(_HOUR_MS), "message.timestamp.type": timestamps},
    )


def _table(name: str, record: str, key: str, partitions: int = 3) -> TopicSpec:
    return TopicSpec(name, record, Kind.TABLE, key, partitions, Cleanup.COMPACT)


SYMBOL_KEY: Final = "{exchange}:{symbol}"
TIMEFRAME_KEY: Final = "{exchange}:{symbol}:{timeframe}"

# Raw facts, written by producers only.
TICKER: Final = _raw("md.ticker.v1", "PriceTicker", SYMBOL_KEY, days=3)
TRADES: Final = _raw("md.trades.v1", "Trade", SYMBOL_KEY, days=7)
BOOK: Final = _raw("md.book.v1", "BookUpdate", SYMBOL_KEY, days=1)
# OHLC is keyed by symbol, not by timeframe: a symbol's exchange candles then share a partition
# with its trades, so the candle processor meets both on one worker without re-keying.
# OHLC history backfill carries candles up to years old; retention counts from arrival
# (LogAppendTime), or a backfilled daily candle would be deleted at the next segment roll. The
# candle's own time travels in the record (open_ts, exchange_ts).
OHLC: Final = _raw("md.ohlc.v1", "OHLCV", SYMBOL_KEY, days=30, timestamps="LogAppendTime")
# A connection's frames in batches, keyed by connection so a replay reads them in their order.
# Records written before 2026-12-03 are single `RawFrame`s keyed `{exchange}:{channel}`.
RAW: Final = _raw("md.raw.v1", "RawFrames", "{exchange}:{connection_id}", days=2)
# Balances and connection status are facts too, but a reader needs the latest value per key after a
# restart, so they are compacted: the newest balance per asset, the newest status per exchange.
BALANCES: Final = TopicSpec(
    "md.balances.v1", "Balance", Kind.RAW, "{exchange}:{asset}", 3, Cleanup.COMPACT
)
STATUS: Final = TopicSpec(
    "md.status.v1", "ConnectionStatus", Kind.RAW, "{exchange}", 3, Cleanup.COMPACT
)

# Tables, written by processors.
PRICES: Final = _table("md.prices.v1", "PriceTicker", SYMBOL_KEY)
BOOKS: Final = _table("md.books.v1", "OrderBook", SYMBOL_KEY)
CANDLES: Final = _table("md.candles.v1", "OHLCV", "{exchange}:{symbol}:{timeframe}:{open_ts}")
INDICATORS: Final = _table("md.indicators.v1", "IndicatorSet", TIMEFRAME_KEY)
POSITIONS: Final = _table("md.positions.v1", "Position", "{exchange}:{asset}")
ALERTS: Final = _table("md.alerts.v1", "Alert", "{source}:{kind}")

# Control: desired subscriptions, one partition so every producer sees one total order.
CONTROL: Final = TopicSpec(
    "md.control.v1", "Subscription", Kind.CONTROL, SYMBOL_KEY, 1, Cleanup.COMPACT
)

PRIMARY: Final[tuple[TopicSpec, ...]] = (
    TICKER,
    TRADES,
    BOOK,
    OHLC,
    BALANCES,
    STATUS,
    RAW,
    PRICES,
    BOOKS,
    CANDLES,
    INDICATORS,
    POSITIONS,
    ALERTS,
    CONTROL,
)

DLQ_SUFFIX: Final = ".dlq"


def dlq_for(topic: TopicSpec) -> TopicSpec:
    """The dead-letter topic of a consumed topic: undecodable records with the reason, 14 days."""
    return TopicSpec(
        topic.name + DLQ_SUFFIX,
        "DeadLetter",
        Kind.DLQ,
        "{source topic key}",
        1,
        Cleanup.DELETE,
        14 * _DAY_MS,
    )


# Every topic a consumer reads gets a dead-letter topic (producers read only md.control.v1).
DLQS: Final[tuple[TopicSpec, ...]] = tuple(dlq_for(t) for t in PRIMARY if t is not RAW)

ALL: Final[tuple[TopicSpec, ...]] = PRIMARY + DLQS

BY_NAME: Final[dict[str, TopicSpec]] = {t.name: t for t in ALL}


def by_name(name: str) -> TopicSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; declared topics: {sorted(BY_NAME)}") from None
