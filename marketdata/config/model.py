"""The configuration model: the original spec's schema plus `kafka`, `simulator` and `processors`.

YAML keys are camelCase as in the spec; Python attributes are snake_case. Unknown keys are errors
(a typo must not silently fall back to a default). Every field has a default, so the spec's file
alone is a complete configuration. Secrets are `SecretStr`: masked in repr, str and dumps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

SYMBOL_RE: Final = re.compile(r"^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$")
KRAKEN_BOOK_DEPTHS: Final = (10, 25, 100, 500, 1000)
KRAKEN_OHLC_INTERVALS: Final = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)


def _check_symbol(value: str) -> str:
    if not SYMBOL_RE.match(value):
        raise ValueError(
            f"symbol {value!r} is not canonical BASE/QUOTE: 2-10 upper-case letters or digits "
            "on each side of a slash, e.g. 'BTC/USD'"
        )
    return value


Symbol = Annotated[str, AfterValidator(_check_symbol)]
Channel = Literal["ticker", "trade", "book", "ohlc", "instrument", "balances"]
Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
PositiveFloat = Annotated[float, Field(gt=0)]
Port = Annotated[int, Field(ge=0, le=65535)]


def _unique[T](values: list[T], what: str) -> list[T]:
    seen: set[T] = set()
    dupes = [v for v in values if v in seen or seen.add(v)]  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(map(str, dupes))}")
    return values


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        hide_input_in_errors=True,  # never echo a value (it may be a secret) in an error
    )


class ServiceSettings(Section):
    host: str = "localhost"
    port: Port = 5001
    metrics_port: Port = 0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    api_keys: list[SecretStr] = Field(default_factory=list)
    rate_limit_per_minute: Annotated[int, Field(ge=1)] = 600


class CacheSettings(Section):
    price_ttl_seconds: PositiveFloat = 1
    order_book_ttl_seconds: PositiveFloat = 5
    balance_ttl_seconds: PositiveFloat = 30
    trade_ttl_seconds: PositiveFloat = 10
    candle_ttl_seconds: PositiveFloat = 120
    status_ttl_seconds: PositiveFloat = 10
    indicator_ttl_seconds: PositiveFloat = 120


class RateLimitSettings(Section):
    requests_per_second: PositiveFloat = 5
    requests_per_minute: PositiveFloat = 15


class BackoffSettings(Section):
    initial_seconds: PositiveFloat = 0.5
    max_seconds: PositiveFloat = 30
    multiplier: Annotated[float, Field(ge=1)] = 2.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.initial_seconds > self.max_seconds:
            raise ValueError("initialSeconds must not exceed maxSeconds")
        return self


class CircuitBreakerSettings(Section):
    failure_threshold: Annotated[int, Field(ge=1)] = 5
    reset_seconds: PositiveFloat = 30


_DEFAULT_URLS: Final = {
    "kraken": ("wss://ws.kraken.com/v2", "wss://ws-auth.kraken.com/v2", "https://api.kraken.com"),
    "binance": ("wss://stream.binance.com:9443/ws", "", "https://api.binance.com"),
    "coinbase": ("wss://advanced-trade-ws.coinbase.com", "", "https://api.coinbase.com"),
}


class ExchangeSettings(Section):
    enabled: bool = True
    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    api_key_file: Path | None = None
    secret_key_file: Path | None = None
    rate_limit: RateLimitSettings = RateLimitSettings()
    symbols: list[Symbol] = Field(default_factory=lambda: ["BTC/USD", "ETH/USD", "SOL/USD"])
    ws_url: str | None = None
    ws_auth_url: str | None = None
    rest_url: str | None = None
    book_depth: int = 25
    ohlc_intervals: list[int] = Field(default_factory=lambda: [1, 5, 15, 60, 240, 1440])
    channels: list[Channel] = Field(
        default_factory=lambda: list[Channel](["ticker", "trade", "book", "ohlc", "instrument"])
    )
    connect_timeout_seconds: PositiveFloat = 10
    heartbeat_timeout_seconds: PositiveFloat = 10
    backoff: BackoffSettings = BackoffSettings()
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    rest_poll_balance_seconds: PositiveFloat = 30

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, v: list[str]) -> list[str]:
        return _unique(v, "symbols")

    @field_validator("book_depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v not in KRAKEN_BOOK_DEPTHS:
            raise ValueError(f"bookDepth must be one of {KRAKEN_BOOK_DEPTHS}")
        return v

    @field_validator("ohlc_intervals")
    @classmethod
    def _intervals(cls, v: list[int]) -> list[int]:
        bad = [i for i in v if i not in KRAKEN_OHLC_INTERVALS]
        if bad:
            raise ValueError(f"ohlcIntervals {bad} not among {KRAKEN_OHLC_INTERVALS} (minutes)")
        return _unique(v, "ohlcIntervals")

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> Self:
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("set apiKey or apiKeyFile, not both")
        if self.secret_key is not None and self.secret_key_file is not None:
            raise ValueError("set secretKey or secretKeyFile, not both")
        return self

    @property
    def private_enabled(self) -> bool:
        """Private data (balances) needs both keys."""
        return bool(self.api_key and self.api_key.get_secret_value()) and bool(
            self.secret_key and self.secret_key.get_secret_value()
        )

    def urls(self, exchange: str) -> tuple[str, str, str]:
        """(wsUrl, wsAuthUrl, restUrl): the overrides, else the exchange's real endpoints."""
        ws, ws_auth, rest = _DEFAULT_URLS[exchange]
        return self.ws_url or ws, self.ws_auth_url or ws_auth, self.rest_url or rest


class ExchangesSettings(Section):
    kraken: ExchangeSettings | None = ExchangeSettings()
    binance: ExchangeSettings | None = None
    coinbase: ExchangeSettings | None = None

    def enabled(self) -> dict[str, ExchangeSettings]:
        named = {"kraken": self.kraken, "binance": self.binance, "coinbase": self.coinbase}
        return {name: ex for name, ex in named.items() if ex is not None and ex.enabled}


class SignalRSettings(Section):
    hub_path: str = "/hubs/marketdata"
    enable_authentication: bool = False

    @field_validator("hub_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("hubPath must start with '/'")
        return v


class LocalKafkaSettings(Section):
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "4.4.0"
    nodes: Literal[1, 3] = 1
    port: Port = 0
    home: Path = Path("~/.cache/crypton-marketdata/kafka")
    heap_mb: Annotated[int, Field(ge=256, le=8192)] = 512

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()


class KafkaSettings(Section):
    bootstrap_servers: str | None = None
    client_id: str = "crypton-marketdata"
    replication_factor: Annotated[int, Field(ge=1, le=5)] = 1
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 5
    compression: Literal["none", "gzip", "lz4", "zstd", "snappy"] = "none"
    local: LocalKafkaSettings = LocalKafkaSettings()

    @field_validator("bootstrap_servers")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None


class SimulatorSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 0
    seed: int = 7
    events_per_second: PositiveFloat = 200
    symbols: list[Symbol] = Field(default_factory=lambda: ["BTC/USD", "ETH/USD", "SOL/USD"])
    faults: list[str] = Field(default_factory=list)

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, v: list[str]) -> list[str]:
        return _unique(v, "symbols")


class MacdSettings(Section):
    fast: Annotated[int, Field(ge=1)] = 12
    slow: Annotated[int, Field(ge=2)] = 26
    signal: Annotated[int, Field(ge=1)] = 9

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError("macd.fast must be smaller than macd.slow")
        return self


class BollingerSettings(Section):
    period: Annotated[int, Field(ge=2)] = 20
    stddev: PositiveFloat = 2.0


class VolumeProfileSettings(Section):
    buckets: Annotated[int, Field(ge=2, le=500)] = 24
    window_candles: Annotated[int, Field(ge=1)] = 100


class IndicatorSettings(Section):
    rsi_period: Annotated[int, Field(ge=2)] = 14
    macd: MacdSettings = MacdSettings()
    bollinger: BollingerSettings = BollingerSettings()
    ema_periods: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [9, 21, 50, 200])
    sma_periods: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [9, 21, 50, 200])
    volume_profile: VolumeProfileSettings = VolumeProfileSettings()


class FreshnessSettings(Section):
    check_interval_seconds: PositiveFloat = 1
    heartbeat_timeout_seconds: PositiveFloat = 15


class ProcessorSettings(Section):
    app_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*-v\d+$")] = "crypton-marketdata-v1"
    timeframes: list[Timeframe] = Field(
        default_factory=lambda: list[Timeframe](["1m", "5m", "15m", "1h", "4h", "1d"])
    )
    grace_seconds: Annotated[float, Field(ge=0)] = 5
    indicators: IndicatorSettings = IndicatorSettings()
    book_top_n: Annotated[int, Field(ge=1, le=1000)] = 25
    book_conflate_ms: Annotated[int, Field(ge=0)] = 100
    freshness: FreshnessSettings = FreshnessSettings()
    data_dir: Path = Path(".state/processors")


class MarketData(Section):
    service: ServiceSettings = ServiceSettings()
    cache: CacheSettings = CacheSettings()
    exchanges: ExchangesSettings = ExchangesSettings()
    signalr: SignalRSettings = SignalRSettings()
    kafka: KafkaSettings = KafkaSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    processors: ProcessorSettings = ProcessorSettings()

    @model_validator(mode="after")
    def _auth_needs_keys(self) -> Self:
        if self.signalr.enable_authentication and not self.service.api_keys:
            raise ValueError(
                "signalr.enableAuthentication is true but service.apiKeys is empty: "
                "configure at least one key"
            )
        return self


class Document(Section):
    """The whole file: everything lives under `marketData:`."""

    market_data: MarketData = MarketData()
