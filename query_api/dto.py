"""What the REST API answers: the data, its time, its age and whether it is stale.

Every answer about market data carries `ts` (the exchange's time of the data, microseconds since
the epoch), `age_seconds` (now minus the time our producer received it) and `stale` (age over the
configured TTL for that kind of data, `marketData.cache`), so a client can tell a live value from
a cached one during an outage.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.models import (
    OHLCV,
    Alert,
    Balance,
    ConnectionStatus,
    IndicatorSet,
    OrderBook,
    Position,
    PriceTicker,
    Subscription,
    Trade,
)


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    age_seconds: float
    stale: bool


class PriceAnswer(Answer, frozen=True, kw_only=True):
    data: PriceTicker
    mid: float
    spread: float


class PricesAnswer(msgspec.Struct, frozen=True):
    data: list[PriceAnswer]
    count: int


class BookAnswer(Answer, frozen=True, kw_only=True):
    data: OrderBook


class CandlesAnswer(Answer, frozen=True, kw_only=True):
    symbol: str
    timeframe: str
    data: list[OHLCV]
    count: int


class IndicatorsAnswer(Answer, frozen=True, kw_only=True):
    data: IndicatorSet


class BalancesAnswer(Answer, frozen=True, kw_only=True):
    data: list[Balance]
    count: int


class PositionsAnswer(Answer, frozen=True, kw_only=True):
    data: list[Position]
    count: int
    total_value: float | None


class TradesAnswer(Answer, frozen=True, kw_only=True):
    symbol: str
    data: list[Trade]
    count: int


class FeedStatus(msgspec.Struct, frozen=True, kw_only=True):
    exchange: str
    state: str
    since: int
    reconnects: int
    circuit: str
    rate_limit_used: float
    last_message_age_seconds: float | None
    status_age_seconds: float
    stale: bool
    detail: str
    data_age_seconds: dict[str, float | None]
    """Per data type (prices, books, trades, candles): the age of the freshest value we hold."""


class StatusAnswer(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    exchanges: list[FeedStatus]
    alerts: list[Alert]
    raw: list[ConnectionStatus]


class SubscribeRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    symbols: list[str]
    exchange: str = "kraken"
    channels: list[Literal["ticker", "trade", "book", "ohlc"]] = msgspec.field(default_factory=list)
    """Empty: every public channel."""


class SubscribeAnswer(msgspec.Struct, frozen=True, kw_only=True):
    exchange: str
    requested: list[str]
    subscriptions: list[Subscription]
    pending: list[str]
    """Symbols the producer has not answered for within the wait (their state is `requested`)."""


class Liveness(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok", "failing"]
    ready: bool
    uptime_seconds: float
    records_applied: int
    records_behind: int
    last_record_age_seconds: float | None
    websocket_clients: int
    error: str | None
