"""The unified models: venue-free record types, one per `schemas/avro/*.avsc`, field for field.

Class names equal the Avro record names; field names, types and defaults mirror the schemas (a
contract test proves the parity). Times are int microseconds since the epoch; prices and sizes
are floats, with the instrument's precision travelling alongside so exact decimal text can be
rebuilt. Structs are frozen: a record, once built, is a fact.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every record type: `schema_name` is the Avro record name."""

    @classmethod
    def schema_name(cls) -> str:
        return cls.__name__


class TradeSide(StrEnum):
    BUY = "buy"
    SELL = "sell"
    UNKNOWN = "unknown"


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    SUBSCRIBED = "subscribed"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    RESYNCING = "resyncing"
    CIRCUIT_OPEN = "circuit_open"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    UNKNOWN = "unknown"


class CandleSource(StrEnum):
    EXCHANGE = "exchange"
    AGGREGATED = "aggregated"
    UNKNOWN = "unknown"


class SubscriptionAction(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


class SubscriptionStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    REJECTED = "rejected"
    REMOVED = "removed"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class PriceLevel(msgspec.Struct, frozen=True, array_like=False):
    price: float
    qty: float


class VolumeBucket(msgspec.Struct, frozen=True):
    price_low: float
    price_high: float
    volume: float


class PriceTicker(Record, frozen=True):
    exchange: str
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    last: float
    volume_24h: float
    vwap_24h: float
    high_24h: float
    low_24h: float
    change_24h: float
    exchange_ts: int
    received_ts: int
    change_pct_24h: float = 0.0
    price_precision: int = 8
    size_precision: int = 8
    seq: int = 0


class Trade(Record, frozen=True):
    exchange: str
    symbol: str
    trade_id: str
    price: float
    qty: float
    side: TradeSide
    exchange_ts: int
    received_ts: int
    ord_type: str | None = None
    price_precision: int = 8
    size_precision: int = 8
    seq: int = 0


class BookUpdate(Record, frozen=True):
    exchange: str
    symbol: str
    is_snapshot: bool
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    depth: int
    exchange_ts: int
    received_ts: int
    checksum: int | None = None
    price_precision: int = 8
    size_precision: int = 8
    seq: int = 0


class OrderBook(Record, frozen=True):
    exchange: str
    symbol: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    depth: int
    exchange_ts: int
    received_ts: int
    checksum: int | None = None
    updates: int = 0
    price_precision: int = 8
    size_precision: int = 8
    seq: int = 0


class OHLCV(Record, frozen=True):
    exchange: str
    symbol: str
    timeframe: str
    open_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    exchange_ts: int
    received_ts: int
    trades: int = 0
    vwap: float = 0.0
    closed: bool = False
    source: CandleSource = CandleSource.EXCHANGE
    price_precision: int = 8
    size_precision: int = 8
    seq: int = 0


class Balance(Record, frozen=True):
    exchange: str
    asset: str
    total: float
    available: float
    exchange_ts: int
    received_ts: int
    hold: float = 0.0
    seq: int = 0


class ConnectionStatus(Record, frozen=True):
    exchange: str
    state: ConnectionState
    since: int
    exchange_ts: int
    received_ts: int
    reconnects: int = 0
    last_message_ts: int | None = None
    circuit: CircuitState = CircuitState.CLOSED
    rate_limit_used: float = 0.0
    attempt: int | None = None
    delay_seconds: float | None = None
    symbol: str | None = None
    detail: str = ""
    seq: int = 0


class Subscription(Record, frozen=True):
    exchange: str
    symbol: str
    channels: list[str]
    action: SubscriptionAction
    ts: int
    status: SubscriptionStatus = SubscriptionStatus.REQUESTED
    reason: str | None = None
    requested_by: str = ""
    seq: int = 0


class IndicatorSet(Record, frozen=True):
    exchange: str
    symbol: str
    timeframe: str
    open_ts: int
    exchange_ts: int
    received_ts: int
    closed: bool = False
    rsi: float | None = None
    macd: float | None = None
    macd_signal: float | None = None
    macd_hist: float | None = None
    bb_upper: float | None = None
    bb_middle: float | None = None
    bb_lower: float | None = None
    ema: dict[str, float] = msgspec.field(default_factory=dict)
    sma: dict[str, float] = msgspec.field(default_factory=dict)
    volume_profile: list[VolumeBucket] = msgspec.field(default_factory=list)
    seq: int = 0


class Position(Record, frozen=True):
    exchange: str
    asset: str
    quote: str
    qty: float
    exchange_ts: int
    received_ts: int
    price: float | None = None
    value: float | None = None
    avg_entry_price: float | None = None
    unrealized_pnl: float | None = None
    pnl_24h: float | None = None
    seq: int = 0


class Alert(Record, frozen=True):
    source: str
    kind: str
    severity: Severity
    active: bool
    message: str
    ts: int
    exchange: str | None = None
    symbol: str | None = None
    data_type: str | None = None
    age_seconds: float | None = None
    ttl_seconds: float | None = None
    seq: int = 0


class RawFrame(Record, frozen=True):
    exchange: str
    channel: str
    connection_id: str
    payload: bytes
    received_ts: int
    seq: int = 0


class RawFrameItem(msgspec.Struct, frozen=True):
    channel: str
    payload: bytes
    received_ts: int


class RawFrames(Record, frozen=True):
    """A connection's frames in the order received (md.raw.v1; one `RawFrame` each before)."""

    exchange: str
    connection_id: str
    frames: list[RawFrameItem]
    seq: int = 0


class DeadLetter(Record, frozen=True):
    source_topic: str
    partition: int
    offset: int
    value: bytes
    reason: str
    error: str
    ts: int
    key: bytes | None = None


RECORD_TYPES: tuple[type[Record], ...] = (
    PriceTicker,
    Trade,
    BookUpdate,
    OrderBook,
    OHLCV,
    Balance,
    ConnectionStatus,
    Subscription,
    IndicatorSet,
    Position,
    Alert,
    RawFrame,
    RawFrames,
    DeadLetter,
)
BY_NAME: dict[str, type[Record]] = {t.__name__: t for t in RECORD_TYPES}
