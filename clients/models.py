"""The API's answers as typed, frozen Structs: what `MarketDataClient` returns.

They mirror `query_api/dto.py` field for field (a test proves the parity) without importing the
API: the SDK depends only on `schemas` (the record types inside `data`) and third-party
libraries. Unknown fields are ignored when decoding, so a newer API with more fields still reads.

Freshness, on every market-data answer: `ts` is the exchange's time of the data (microseconds
since the epoch, 0 when there is no data), `age_seconds` is how old the data was when the API
answered (since our producer received it) and `stale` says the age is over the API's TTL for that
kind of data. An answer served from the client's cache keeps the age it had when it was
fetched, so it may understate the age by up to that kind's cache TTL (`cache.CacheTtls`).
"""

from __future__ import annotations

from datetime import UTC, datetime

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


def iso_time(ts_us: int) -> str | None:
    """Microseconds since the epoch as ISO 8601 UTC text (None for 0: no data)."""
    if ts_us <= 0:
        return None
    return datetime.fromtimestamp(ts_us / 1e6, tz=UTC).isoformat(timespec="milliseconds")


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    age_seconds: float
    stale: bool

    @property
    def as_of(self) -> str | None:
        """`ts` as ISO 8601 UTC text."""
        return iso_time(self.ts)


class PriceAnswer(Answer, frozen=True, kw_only=True):
    data: PriceTicker
    mid: float
    spread: float


class PricesAnswer(msgspec.Struct, frozen=True):
    data: list[PriceAnswer]
    count: int

    def by_symbol(self, symbol: str, exchange: str = "kraken") -> PriceAnswer | None:
        """The answer for one canonical symbol (`BTC/USD`), if the API has it."""
        return next(
            (p for p in self.data if p.data.symbol == symbol and p.data.exchange == exchange), None
        )


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

    def asset(self, asset: str, exchange: str | None = None) -> Balance | None:
        return next(
            (b for b in self.data if b.asset == asset and exchange in (None, b.exchange)), None
        )


class PositionsAnswer(Answer, frozen=True, kw_only=True):
    data: list[Position]
    count: int
    total_value: float | None

    def asset(self, asset: str, exchange: str | None = None) -> Position | None:
        return next(
            (p for p in self.data if p.asset == asset and exchange in (None, p.exchange)), None
        )


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


class StatusAnswer(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    exchanges: list[FeedStatus]
    alerts: list[Alert]
    raw: list[ConnectionStatus]


class SubscribeAnswer(msgspec.Struct, frozen=True, kw_only=True):
    exchange: str
    requested: list[str]
    subscriptions: list[Subscription]
    pending: list[str]
    """Symbols the producer has not answered for within the API's wait."""
