"""`marketData.exchanges.<name>`: one section per venue, the same shape for every venue.

What all venues share (keys, rate limits, symbols, timeouts, reconnect policy) lives in
`ExchangeSettings`; each venue's subclass supplies its real endpoints and the values its API
accepts (Kraken's book depths and OHLC intervals), so a depth Kraken would refuse at subscribe time
is refused here instead, with its path. The endpoint fields are overrides: a simulator or test
server stands in by setting them.

Keys come from `${VAR}`, or from a mounted secret file (`apiKeyFile`, `secretKeyFile`, the way
Kubernetes and Docker hand out secrets); giving both a value and a file is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, NamedTuple, Self

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from marketdata.config.fields import (
    OptionalSecret,
    PositiveFloat,
    Section,
    Symbol,
    blank_is_none,
    cross_field_error,
    unique,
)

Channel = Literal["ticker", "trade", "book", "ohlc", "instrument", "balances"]
PUBLIC_CHANNELS: Final[tuple[Channel, ...]] = ("ticker", "trade", "book", "ohlc", "instrument")
DEFAULT_SYMBOLS: Final = ("BTC/USD", "ETH/USD", "SOL/USD")
DEFAULT_OHLC_INTERVALS: Final = (1, 5, 15, 60, 240, 1440)
_SECRETS: Final = (("apiKey", "api_key"), ("secretKey", "secret_key"))


class Endpoints(NamedTuple):
    """A venue's public WebSocket, private (authenticated) WebSocket and REST base URLs."""

    ws: str
    ws_auth: str
    rest: str


ENDPOINTS: Final = {
    "kraken": Endpoints(
        "wss://ws.kraken.com/v2", "wss://ws-auth.kraken.com/v2", "https://api.kraken.com"
    ),
    "binance": Endpoints(
        "wss://stream.binance.com:9443/ws",
        "wss://ws-api.binance.com:443/ws-api/v3",  # user data streams go through the WS API
        "https://api.binance.com",
    ),
    "coinbase": Endpoints(
        "wss://advanced-trade-ws.coinbase.com",
        "wss://advanced-trade-ws-user.coinbase.com",
        "https://api.coinbase.com",
    ),
}


def _scheme(*schemes: str) -> AfterValidator:
    def check(url: str | None) -> str | None:
        if url is None:
            return url
        scheme, _, rest = url.partition("://")
        if scheme not in schemes or not rest:
            raise ValueError(f"must be a {' or '.join(schemes)}:// URL")
        return url

    return AfterValidator(check)


WsUrl = Annotated[str | None, BeforeValidator(blank_is_none), _scheme("ws", "wss")]
HttpUrl = Annotated[str | None, BeforeValidator(blank_is_none), _scheme("http", "https")]


class RateLimitSettings(Section):
    """The venue's request budget, shared by REST calls and WebSocket control messages."""

    requests_per_second: PositiveFloat = 5
    requests_per_minute: PositiveFloat = 15


class BackoffSettings(Section):
    """Reconnect delays: exponential with jitter, capped (no hour-long waits after an outage)."""

    initial_seconds: PositiveFloat = 0.5
    max_seconds: PositiveFloat = 30
    multiplier: Annotated[float, Field(ge=1)] = 2.0

    @model_validator(mode="after")
    def _initial_within_max(self) -> Self:
        if self.initial_seconds > self.max_seconds:
            raise cross_field_error(("initialSeconds",), "must not exceed maxSeconds")
        return self


class CircuitBreakerSettings(Section):
    """After `failureThreshold` failures in a row, stop trying for `resetSeconds`."""

    failure_threshold: Annotated[int, Field(ge=1)] = 5
    reset_seconds: PositiveFloat = 30


class ExchangeSettings(Section):
    """One exchange connection. Venue subclasses set the endpoints and allowed values."""

    BOOK_DEPTHS: ClassVar[tuple[int, ...] | None] = None
    """The book depths the venue accepts; None: any positive depth."""
    OHLC_INTERVALS: ClassVar[tuple[int, ...] | None] = None
    """The candle intervals (minutes) the venue serves; None: any positive interval."""

    enabled: bool = True
    api_key: OptionalSecret = None
    secret_key: OptionalSecret = None
    api_key_file: Path | None = None
    secret_key_file: Path | None = None
    rate_limit: RateLimitSettings = RateLimitSettings()
    symbols: tuple[Symbol, ...] = DEFAULT_SYMBOLS
    ws_url: WsUrl = None
    ws_auth_url: WsUrl = None
    rest_url: HttpUrl = None
    book_depth: Annotated[int, Field(ge=1)] = 25
    ohlc_intervals: tuple[Annotated[int, Field(ge=1)], ...] = DEFAULT_OHLC_INTERVALS
    """The candle intervals (minutes) fetched as history at start-up, seeding every timeframe."""
    ohlc_live_intervals: tuple[Annotated[int, Field(ge=1)], ...] | None = None
    """The intervals subscribed live. None: only the shortest of `ohlcIntervals`. The venue
    repeats every live interval's forming candle after every trade, while the longer ones add
    nothing the shortest does not carry (the processors build every timeframe from trades and
    check it against the exchange's candles of each live interval)."""
    ohlc_conflate_ms: Annotated[int, Field(ge=0)] = 500
    """A forming exchange candle is published at most this often (the venue repeats it after
    every trade for every interval); every candle's final value is always published. 0: all."""
    raw_batch_ms: Annotated[int, Field(ge=0)] = 100
    """md.raw.v1 keeps every frame in batches per connection, closed at most this long after
    their first frame (or at 1,000 frames or 512 KiB). 0: a record per frame."""
    book_snapshot_ms: Annotated[int, Field(ge=0)] = 30_000
    """A live book is also published whole to md.book.v1 (a snapshot of the verified book, after
    the update that made it due) at least this often while it changes, so a reader can build it
    from the last this-much of the topic (the API does) instead of from the connection's start.
    0: only the exchange's snapshots."""
    channels: tuple[Channel, ...] = PUBLIC_CHANNELS
    ws_compression: bool = False
    """Offer permessage-deflate on the exchange's WebSockets. Off by default: compression costs
    both ends CPU for every frame, and the receiver inflates each one before it can parse it
    (small on loopback at 2,000 events/s from the simulator: about a point of a core at each
    end and 0.1-0.3 ms of the simulator-to-producer hop, docs/benchmarks.md). Turn it on over a
    link where bytes cost more than CPU."""
    connect_timeout_seconds: PositiveFloat = 10
    heartbeat_timeout_seconds: PositiveFloat = 10
    """The watchdog recycles a connection that stays silent this long; a book snapshot that has
    not come a third of this long after it was asked for was lost and is asked for again."""
    backoff: BackoffSettings = BackoffSettings()
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    rest_poll_balance_seconds: PositiveFloat = 30

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Resolve `apiKeyFile` / `secretKeyFile` into the key itself (the path stays, for show)."""
        if not isinstance(data, Mapping):
            return data
        resolved = dict(data)
        for alias, name in _SECRETS:
            file_alias, file_name = f"{alias}File", f"{name}_file"
            file_key = file_alias if file_alias in data else file_name
            file = data.get(file_key)
            if not isinstance(file, (str, Path)) or not str(file).strip():
                continue
            value_key = alias if alias in data else name
            if data.get(value_key) not in (None, ""):
                raise cross_field_error((file_alias,), f"set {alias} or {file_alias}, not both")
            try:
                resolved[value_key] = Path(file).expanduser().read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise cross_field_error(
                    (file_alias,), f"cannot read secret file {file}: {reason}"
                ) from None
        return resolved

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        unique(symbols, "symbols")
        return symbols

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
        unique(channels, "channels")
        return channels

    @field_validator("book_depth")
    @classmethod
    def _venue_depth(cls, depth: int) -> int:
        if cls.BOOK_DEPTHS is not None and depth not in cls.BOOK_DEPTHS:
            raise ValueError(f"must be one of {', '.join(map(str, cls.BOOK_DEPTHS))}")
        return depth

    @field_validator("ohlc_intervals")
    @classmethod
    def _venue_intervals(cls, intervals: tuple[int, ...]) -> tuple[int, ...]:
        allowed = cls.OHLC_INTERVALS
        for index, minutes in enumerate(intervals):
            if allowed is not None and minutes not in allowed:
                raise cross_field_error(
                    (index,), f"{minutes} is not one of {', '.join(map(str, allowed))} (minutes)"
                )
        unique(intervals, "ohlcIntervals")
        return intervals

    @field_validator("ohlc_live_intervals")
    @classmethod
    def _unique_live_intervals(cls, intervals: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if intervals is not None:
            unique(intervals, "ohlcLiveIntervals")
        return intervals

    @model_validator(mode="after")
    def _ohlc_needs_intervals(self) -> Self:
        if "ohlc" in self.channels and not self.ohlc_intervals:
            raise cross_field_error(("ohlcIntervals",), "is empty but channels include ohlc")
        live = self.ohlc_live_intervals
        if live is None:
            return self
        if "ohlc" in self.channels and not live:
            raise cross_field_error(("ohlcLiveIntervals",), "is empty but channels include ohlc")
        for index, minutes in enumerate(live):
            if minutes not in self.ohlc_intervals:
                raise cross_field_error(
                    ("ohlcLiveIntervals", index), f"{minutes} is not one of ohlcIntervals"
                )
        return self

    @property
    def live_ohlc_intervals(self) -> tuple[int, ...]:
        """The intervals to subscribe live: `ohlcLiveIntervals`, else the shortest interval."""
        if self.ohlc_live_intervals is not None:
            return self.ohlc_live_intervals
        return (min(self.ohlc_intervals),) if self.ohlc_intervals else ()

    @property
    def private_enabled(self) -> bool:
        """Private data (balances) needs both keys."""
        return self.api_key is not None and self.secret_key is not None

    def urls(self, exchange: str) -> Endpoints:
        """The endpoints to use: the overrides, else the exchange's real ones."""
        real = ENDPOINTS[exchange]
        return Endpoints(
            self.ws_url or real.ws, self.ws_auth_url or real.ws_auth, self.rest_url or real.rest
        )


class KrakenSettings(ExchangeSettings):
    """Kraken spot, WebSocket API v2 (public and authenticated) and REST."""

    BOOK_DEPTHS: ClassVar[tuple[int, ...] | None] = (10, 25, 100, 500, 1000)
    OHLC_INTERVALS: ClassVar[tuple[int, ...] | None] = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)

    ws_url: WsUrl = ENDPOINTS["kraken"].ws
    ws_auth_url: WsUrl = ENDPOINTS["kraken"].ws_auth
    rest_url: HttpUrl = ENDPOINTS["kraken"].rest


class BinanceSettings(ExchangeSettings):
    """Binance spot. Its pairs quote in USDT (it lists no USD pairs)."""

    OHLC_INTERVALS: ClassVar[tuple[int, ...] | None] = (
        1, 3, 5, 15, 30, 60, 120, 240, 360, 480, 720, 1440, 4320, 10080,
    )  # fmt: skip

    symbols: tuple[Symbol, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    ws_url: WsUrl = ENDPOINTS["binance"].ws
    ws_auth_url: WsUrl = ENDPOINTS["binance"].ws_auth
    rest_url: HttpUrl = ENDPOINTS["binance"].rest


class CoinbaseSettings(ExchangeSettings):
    """Coinbase Advanced Trade."""

    ws_url: WsUrl = ENDPOINTS["coinbase"].ws
    ws_auth_url: WsUrl = ENDPOINTS["coinbase"].ws_auth
    rest_url: HttpUrl = ENDPOINTS["coinbase"].rest


class ExchangesSettings(Section):
    """The venues this deployment connects to; any other name is an error."""

    kraken: KrakenSettings | None = KrakenSettings()
    binance: BinanceSettings | None = None
    coinbase: CoinbaseSettings | None = None

    def configured(self) -> dict[str, ExchangeSettings]:
        """Every venue with a section in the file, enabled or not."""
        named: dict[str, ExchangeSettings | None] = {
            "kraken": self.kraken,
            "binance": self.binance,
            "coinbase": self.coinbase,
        }
        return {name: ex for name, ex in named.items() if ex is not None}

    def enabled(self) -> dict[str, ExchangeSettings]:
        """The venues to connect to."""
        return {name: ex for name, ex in self.configured().items() if ex.enabled}
