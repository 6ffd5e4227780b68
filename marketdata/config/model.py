"""The configuration model: the original spec's schema plus `kafka`, `simulator`, `processors`.

YAML keys are camelCase as in the spec; Python attributes are snake_case. Every field has a
default, so the spec's file alone (or no file at all) is a complete configuration. Lists are
tuples so a loaded configuration is immutable all the way down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from marketdata.config.exchanges import DEFAULT_SYMBOLS, ExchangesSettings
from marketdata.config.fields import (
    Port,
    PositiveFloat,
    Secret,
    Section,
    Symbol,
    blank_is_none,
    cross_field_error,
    unique,
)
from marketdata.config.processors import ProcessorSettings
from marketdata.logs import LogFormat


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]
NonEmpty = Annotated[str, Field(min_length=1)]


class ServiceSettings(Section):
    """The query API, and what every part shares: logging and the metrics endpoint."""

    host: NonEmpty = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 5001
    metrics_port: Port = 0
    """`/metrics` and `/health/*` of parts without an HTTP server of their own (producers,
    processors); 0: off."""
    metrics_host: NonEmpty = "127.0.0.1"
    """The interface that endpoint binds: loopback by default, `0.0.0.0` in a container so
    probes and Prometheus can reach it."""
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "auto"
    api_keys: tuple[Secret, ...] = ()
    """Keys the API accepts (header or bearer token) when authentication is on."""
    rate_limit_per_minute: Annotated[int, Field(ge=1)] = 600
    """Per REST client."""


class CacheSettings(Section):
    """How old each kind of data may get before answers mark it stale (seconds)."""

    price_ttl_seconds: PositiveFloat = 1
    order_book_ttl_seconds: PositiveFloat = 5
    balance_ttl_seconds: PositiveFloat = 30
    trade_ttl_seconds: PositiveFloat = 10
    candle_ttl_seconds: PositiveFloat = 120
    status_ttl_seconds: PositiveFloat = 10
    indicator_ttl_seconds: PositiveFloat = 120


class SignalRSettings(Section):
    hub_path: str = "/hubs/marketdata"
    enable_authentication: bool = False
    """Require an API key on the hub and on `/ws` (the keys are `service.apiKeys`)."""

    @field_validator("hub_path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("must start with '/', e.g. /hubs/marketdata")
        return path


class LocalKafkaSettings(Section):
    """The broker `marketdata kafka up` (and `run`, when none is configured) starts here."""

    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "4.4.0"
    nodes: Literal[1, 3] = 1
    port: Port = 0
    """Port of the first node; 0: a free port."""
    home: Path = Field(
        default_factory=lambda: Path("~/.cache/crypton-marketdata/kafka").expanduser()
    )
    """Where the Kafka distribution is kept once downloaded (shared by every checkout)."""
    heap_mb: Annotated[int, Field(ge=256, le=8192)] = 512
    jit: Literal["tiered", "quick"] = "tiered"
    """`tiered`: the JVM's default compilers, for a broker that runs for long; `quick`: C1 only,
    cheaper to start, more CPU per record once loaded (the test suite's brokers)."""

    @field_validator("home")
    @classmethod
    def _expand(cls, home: Path) -> Path:
        return home.expanduser()


class ProducerKafkaSettings(Section):
    """The producers' Kafka client, and what a producer does while Kafka cannot take its records
    (docs/producer.md, "When Kafka is unavailable")."""

    request_timeout_ms: Annotated[int, Field(ge=1000, le=300_000)] = 30_000
    """One produce request's deadline; also how long the client waits for room in a full batch."""
    retry_backoff_ms: Annotated[int, Field(ge=10, le=10_000)] = 100
    """Pause between the client's retries and metadata refreshes."""
    buffer_max_mb: Annotated[float, Field(gt=0, le=4096)] = 64
    """Records not yet acknowledged by Kafka may hold at most this much memory..."""
    buffer_max_records: Annotated[int, Field(ge=100, le=10_000_000)] = 200_000
    """...and be at most this many. Past either bound, records are shed by policy (tickers
    conflate, raw frames go, books resync) and facts wait (back-pressure); nothing silently."""
    outage_after_seconds: Annotated[float, Field(gt=0, le=600)] = 3
    """A record unacknowledged for this long means Kafka is unavailable: reported, buffered."""
    stop_flush_seconds: Annotated[float, Field(ge=0, le=600)] = 10
    """On shutdown, how long to wait for the backlog to reach Kafka (what is left is logged)."""
    merge_while_waiting: bool = True
    """A book delta merges into its key's previous delta, and a ticker replaces its key's
    previous ticker, while that still waits in the backlog (under load, and through an outage);
    false: every one is a record of its own."""


class KafkaSettings(Section):
    """The cluster. Producer acks and idempotence are not settings: the design fixes them
    (`acks=all`, idempotent) because the no-loss, no-duplicate guarantee depends on them."""

    bootstrap_servers: Annotated[str | None, BeforeValidator(blank_is_none)] = None
    """None or empty: resolve one (a Docker container if an engine answers, else a local broker)."""
    client_id: NonEmpty = "crypton-marketdata"
    replication_factor: Annotated[int, Field(ge=1, le=5)] = 1
    linger_ms: Annotated[int, Field(ge=0, le=1000)] = 0
    """How long a producer waits to fill a batch. 0: send at once (latency first: batches still
    form while a request is in flight); raise it for throughput at very high rates."""
    fetch_max_wait_ms: Annotated[int, Field(ge=1, le=1500)] = 10
    """How long the broker may hold a fetch of the processors' and the API's consumers that
    finds no data. The client sends one fetch at a time per broker, and a fetch made of quiet
    partitions only (the busy ones still had records buffered when it went) holds the busy
    ones up until it returns: this bounds that stall. faust's own choice was 1,500 ms and
    aiokafka's 500 ms; at idle each consumer then asks about 1000/this times a second."""
    compression: Literal["none", "gzip", "lz4", "zstd", "snappy"] = "none"
    producer: ProducerKafkaSettings = ProducerKafkaSettings()
    local: LocalKafkaSettings = Field(default_factory=LocalKafkaSettings)  # `~` expands at load


class SimulatorSettings(Section):
    """The local stand-in exchange (Kraken first): the offline default of `marketdata run`."""

    enabled: bool = True
    host: NonEmpty = "127.0.0.1"
    port: Port = 0
    """0: a free port."""
    seed: int = 7
    events_per_second: Annotated[float, Field(ge=0)] = 200
    symbols: tuple[Symbol, ...] = DEFAULT_SYMBOLS
    faults: tuple[str, ...] = ()
    """Fault specs, validated by the simulator (which owns their grammar)."""

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        unique(symbols, "symbols")
        return symbols


class MarketData(Section):
    """Everything under `marketData:`."""

    service: ServiceSettings = ServiceSettings()
    cache: CacheSettings = CacheSettings()
    exchanges: ExchangesSettings = ExchangesSettings()
    signalr: SignalRSettings = SignalRSettings()
    kafka: KafkaSettings = KafkaSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    processors: ProcessorSettings = ProcessorSettings()

    @field_validator("signalr")
    @classmethod
    def _authentication_needs_keys(
        cls, signalr: SignalRSettings, info: ValidationInfo
    ) -> SignalRSettings:
        # A field validator, not a model one: it runs (and reports) even when another section
        # has problems, as long as `service` itself is valid.
        service = info.data.get("service")
        if signalr.enable_authentication and service is not None and not service.api_keys:
            raise cross_field_error(
                ("enableAuthentication",),
                "is true but marketData.service.apiKeys is empty: add a key there "
                '(e.g. - "${MARKETDATA_API_KEY}") or turn authentication off',
            )
        return signalr


class Document(Section):
    """The whole file: everything lives under `marketData:`."""

    market_data: MarketData = MarketData()
