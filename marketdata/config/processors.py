"""`marketData.processors`: the faust app that turns raw facts into tables.

The app id names the consumer group and every changelog topic, so changing it starts processing
state from scratch. It must therefore end in a version (`-v1`): a state reset is a deliberate bump
of that suffix, never a side effect of renaming.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from marketdata.config.fields import PositiveFloat, Section, cross_field_error, unique

Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
TIMEFRAMES: Final[tuple[Timeframe, ...]] = ("1m", "5m", "15m", "1h", "4h", "1d")
_APP_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*-v\d+$")
Period = Annotated[int, Field(ge=1)]


class MacdSettings(Section):
    fast: Annotated[int, Field(ge=1)] = 12
    slow: Annotated[int, Field(ge=2)] = 26
    signal: Annotated[int, Field(ge=1)] = 9

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise cross_field_error(("fast",), f"must be smaller than slow ({self.slow})")
        return self


class BollingerSettings(Section):
    period: Annotated[int, Field(ge=2)] = 20
    stddev: PositiveFloat = 2.0


class VolumeProfileSettings(Section):
    buckets: Annotated[int, Field(ge=2, le=500)] = 24
    window_candles: Annotated[int, Field(ge=1)] = 100


class IndicatorSettings(Section):
    """Parameters of the indicators computed per symbol and timeframe."""

    rsi_period: Annotated[int, Field(ge=2)] = 14
    macd: MacdSettings = MacdSettings()
    bollinger: BollingerSettings = BollingerSettings()
    ema_periods: tuple[Period, ...] = (9, 21, 50, 200)
    sma_periods: tuple[Period, ...] = (9, 21, 50, 200)
    volume_profile: VolumeProfileSettings = VolumeProfileSettings()

    @field_validator("ema_periods", "sma_periods")
    @classmethod
    def _unique_periods(cls, periods: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        unique(periods, to_camel(info.field_name or "periods"))
        return periods


class FreshnessSettings(Section):
    """The freshness monitor: how often it looks, and how long a producer may stay silent."""

    check_interval_seconds: PositiveFloat = 1
    stale_after_ttls: Annotated[float, Field(ge=1)] = 5
    """Alert when a feed's data is older than this many of its cache TTLs (a TTL marks an
    answer stale; a feed a few TTLs behind is an incident)."""
    heartbeat_timeout_seconds: PositiveFloat = 15


class ProcessorSettings(Section):
    app_id: str = "crypton-marketdata-v1"
    timeframes: tuple[Timeframe, ...] = TIMEFRAMES
    grace_seconds: Annotated[float, Field(ge=0)] = 5
    """How late a trade may arrive and still count in its (already closed) candle."""
    indicators: IndicatorSettings = IndicatorSettings()
    book_top_n: Annotated[int, Field(ge=1, le=1000)] = 25
    book_conflate_ms: Annotated[int, Field(ge=0)] = 100
    changelog_flush_ms: Annotated[int, Field(ge=0, le=10_000)] = 100
    """Table writes are batched: a key's latest state goes to its changelog at most this often,
    and its input records are acknowledged (so committed) only after that. 0: on every write."""
    forming_candle_ms: Annotated[int, Field(ge=0)] = 250
    """A forming candle (and its indicator preview) is published at most this often per symbol
    and timeframe, by exchange time; closing always publishes. 0: on every trade."""
    fetch_min_bytes: Annotated[int, Field(ge=1, le=1_048_576)] = 16_384
    """The broker holds a worker's fetch until this much is there (or `kafka.fetchMaxWaitMs`
    passed): fewer, larger fetches. Prices and trades reach clients without the processors
    (docs/api.md), so their tables trade a few ms of delay for a quarter less CPU. 1: answer as
    soon as anything arrives."""
    stall_after_seconds: Annotated[float, Field(gt=0)] = 30
    """A worker logs `processor.partition_stalled` for an input partition with records waiting
    on which it has taken or committed none for this long."""
    freshness: FreshnessSettings = FreshnessSettings()
    data_dir: Path = Path(".state/processors")
    """Where faust keeps its local table state (RocksDB or memory snapshots)."""

    @field_validator("app_id")
    @classmethod
    def _versioned(cls, app_id: str) -> str:
        if not _APP_ID.match(app_id):
            raise ValueError(
                "must be letters, digits, '.', '_' or '-' ending in a version suffix -v<N> "
                "(e.g. crypton-marketdata-v1): bumping it is how processor state is reset"
            )
        return app_id

    @field_validator("timeframes")
    @classmethod
    def _unique_timeframes(cls, timeframes: tuple[Timeframe, ...]) -> tuple[Timeframe, ...]:
        unique(timeframes, "timeframes")
        return timeframes
