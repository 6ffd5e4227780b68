"""The model's rules: every section's defaults, venue limits, cross-field checks, immutability."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from config_samples import write
from pydantic import SecretStr, ValidationError

from marketdata.config import (
    BinanceSettings,
    ConfigError,
    ExchangeSettings,
    KafkaSettings,
    KrakenSettings,
    MarketData,
    Settings,
    load_config,
)


def load(tmp_path: Path, market_data: dict[str, Any]) -> Settings:
    return load_config(write(tmp_path, yaml.safe_dump({"marketData": market_data})), {})


def problems(tmp_path: Path, market_data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, market_data)
    return {p.path: p.message for p in info.value.problems}


def kraken(**fields: Any) -> dict[str, Any]:
    return {"exchanges": {"kraken": fields}}


def test_the_spec_values_are_the_defaults() -> None:
    assert load_config(None, {}).market_data == MarketData()


def test_defaults_of_the_added_sections() -> None:
    md = MarketData()

    assert md.service.metrics_port == 0
    assert md.service.log_level == "INFO"
    assert md.service.api_keys == ()
    assert md.cache.trade_ttl_seconds > 0
    assert md.kafka.bootstrap_servers is None
    assert md.kafka.local.version == "4.4.0"
    assert md.kafka.local.nodes == 1
    assert md.kafka.local.port == 0
    assert md.kafka.local.jit == "tiered"  # a long-running broker gets the JVM's full compilers
    assert md.kafka.local.home == Path.home() / ".cache/crypton-marketdata/kafka"
    assert md.simulator.enabled
    assert md.simulator.host == "127.0.0.1"
    assert md.simulator.symbols == ("BTC/USD", "ETH/USD", "SOL/USD")
    assert md.processors.app_id == "crypton-marketdata-v1"
    assert md.processors.timeframes == ("1m", "5m", "15m", "1h", "4h", "1d")
    assert md.processors.indicators.rsi_period == 14
    assert (md.processors.indicators.macd.fast, md.processors.indicators.macd.slow) == (12, 26)
    assert md.processors.indicators.ema_periods == (9, 21, 50, 200)
    assert md.processors.indicators.volume_profile.buckets == 24


def test_kraken_defaults_to_its_real_endpoints_and_public_channels() -> None:
    settings = KrakenSettings()

    assert settings.urls("kraken") == (
        "wss://ws.kraken.com/v2",
        "wss://ws-auth.kraken.com/v2",
        "https://api.kraken.com",
    )
    assert settings.book_depth == 25
    assert settings.channels == ("ticker", "trade", "book", "ohlc", "instrument")
    assert not settings.private_enabled


def test_endpoint_overrides_let_a_simulator_stand_in(tmp_path: Path) -> None:
    settings = load(tmp_path, kraken(wsUrl="ws://127.0.0.1:8100/v2", restUrl=""))
    assert settings.exchanges.kraken is not None
    ws, ws_auth, rest = settings.exchanges.kraken.urls("kraken")
    assert (ws, ws_auth, rest) == (
        "ws://127.0.0.1:8100/v2",
        "wss://ws-auth.kraken.com/v2",
        "https://api.kraken.com",  # empty (e.g. "${KRAKEN_REST_URL:-}") means the real one
    )


def test_endpoints_need_the_right_scheme(tmp_path: Path) -> None:
    found = problems(tmp_path, kraken(wsUrl="https://ws.kraken.com", restUrl="ws://x"))
    assert found == {
        "marketData.exchanges.kraken.wsUrl": "must be a ws or wss:// URL",
        "marketData.exchanges.kraken.restUrl": "must be a http or https:// URL",
    }


def test_kraken_book_depths_and_intervals_are_kraken_s(tmp_path: Path) -> None:
    found = problems(tmp_path, kraken(bookDepth=20, ohlcIntervals=[1, 3, 5]))
    assert found == {
        "marketData.exchanges.kraken.bookDepth": "must be one of 10, 25, 100, 500, 1000",
        "marketData.exchanges.kraken.ohlcIntervals[1]": (
            "3 is not one of 1, 5, 15, 30, 60, 240, 1440, 10080, 21600 (minutes)"
        ),
    }
    assert load(tmp_path, kraken(bookDepth=1000, ohlcIntervals=[21600])).exchanges.kraken


def test_other_venues_have_their_own_limits(tmp_path: Path) -> None:
    settings = load(
        tmp_path, {"exchanges": {"binance": {"bookDepth": 20, "ohlcIntervals": [3, 720]}}}
    )

    binance = settings.exchanges.binance
    assert binance is not None
    assert binance.symbols == ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    assert binance.urls("binance").rest == "https://api.binance.com"
    assert set(settings.exchanges.enabled()) == {"kraken", "binance"}
    assert settings.notices[1].startswith("exchanges.binance: private data disabled: apiKey is")


def test_channels_are_a_subset_without_repeats(tmp_path: Path) -> None:
    found = problems(tmp_path, kraken(channels=["ticker", "orders"]))
    assert list(found) == ["marketData.exchanges.kraken.channels[1]"]
    assert "'balances'" in found["marketData.exchanges.kraken.channels[1]"]

    assert problems(tmp_path, kraken(channels=["ticker", "book", "ticker"])) == {
        "marketData.exchanges.kraken.channels[2]": "duplicate of channels[0] (ticker)"
    }


def test_the_ohlc_channel_needs_intervals(tmp_path: Path) -> None:
    assert problems(tmp_path, kraken(ohlcIntervals=[])) == {
        "marketData.exchanges.kraken.ohlcIntervals": "is empty but channels include ohlc"
    }


def test_only_the_shortest_ohlc_interval_is_live_unless_configured(tmp_path: Path) -> None:
    default = load(tmp_path, {}).exchanges.kraken
    assert default is not None
    assert default.ohlc_intervals == (1, 5, 15, 60, 240, 1440)
    assert default.live_ohlc_intervals == (1,)

    chosen = load(tmp_path, kraken(ohlcIntervals=[15, 5, 60])).exchanges.kraken
    assert chosen is not None
    assert chosen.live_ohlc_intervals == (5,)

    both = load(tmp_path, kraken(ohlcLiveIntervals=[5, 1])).exchanges.kraken
    assert both is not None
    assert both.live_ohlc_intervals == (5, 1)


def test_live_ohlc_intervals_are_history_intervals_without_repeats(tmp_path: Path) -> None:
    assert problems(tmp_path, kraken(ohlcIntervals=[1, 5], ohlcLiveIntervals=[1, 15])) == {
        "marketData.exchanges.kraken.ohlcLiveIntervals[1]": "15 is not one of ohlcIntervals"
    }
    assert problems(tmp_path, kraken(ohlcLiveIntervals=[5, 5])) == {
        "marketData.exchanges.kraken.ohlcLiveIntervals[1]": "duplicate of ohlcLiveIntervals[0] (5)"
    }
    assert problems(tmp_path, kraken(ohlcLiveIntervals=[])) == {
        "marketData.exchanges.kraken.ohlcLiveIntervals": "is empty but channels include ohlc"
    }


def test_backoff_and_circuit_breaker(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        kraken(
            backoff={"initialSeconds": 60, "maxSeconds": 30}, circuitBreaker={"resetSeconds": 0}
        ),
    )
    assert found == {
        "marketData.exchanges.kraken.backoff.initialSeconds": "must not exceed maxSeconds",
        "marketData.exchanges.kraken.circuitBreaker.resetSeconds": "Input should be greater than 0",
    }


def test_private_enabled_needs_both_keys() -> None:
    assert not ExchangeSettings(api_key=SecretStr("k")).private_enabled
    assert not ExchangeSettings(api_key=SecretStr("k"), secret_key=SecretStr(" ")).private_enabled
    assert ExchangeSettings(api_key=SecretStr("k"), secret_key=SecretStr("s")).private_enabled


def test_snake_case_names_are_accepted_too() -> None:
    settings = ExchangeSettings.model_validate({"book_depth": 10, "ws_url": "ws://127.0.0.1:1/v2"})
    assert settings.book_depth == 10
    assert settings.urls("kraken").ws == "ws://127.0.0.1:1/v2"
    assert BinanceSettings(ohlc_intervals=(3,)).ohlc_intervals == (3,)


def test_settings_are_immutable() -> None:
    settings = KafkaSettings()
    with pytest.raises(ValidationError):
        settings.linger_ms = 0  # type: ignore[misc]
    assert isinstance(MarketData().exchanges.kraken.symbols, tuple)  # type: ignore[union-attr]


def test_service_section(tmp_path: Path) -> None:
    settings = load(tmp_path, {"service": {"logLevel": "debug", "metricsPort": 9100}})
    assert settings.service.log_level == "DEBUG"
    assert settings.service.metrics_port == 9100

    found = problems(
        tmp_path, {"service": {"logFormat": "xml", "port": 0, "apiKeys": [""], "host": ""}}
    )
    assert set(found) == {
        "marketData.service.logFormat",
        "marketData.service.port",
        "marketData.service.apiKeys[0]",
        "marketData.service.host",
    }
    assert found["marketData.service.apiKeys[0]"] == "must not be empty"


def test_cache_ttls_are_positive(tmp_path: Path) -> None:
    found = problems(tmp_path, {"cache": {"candleTtlSeconds": 0, "statusTtlSeconds": -1}})
    assert set(found) == {"marketData.cache.candleTtlSeconds", "marketData.cache.statusTtlSeconds"}


def test_hub_path_must_be_absolute(tmp_path: Path) -> None:
    found = problems(tmp_path, {"signalr": {"hubPath": "hubs/marketdata"}})
    assert found == {"marketData.signalr.hubPath": "must start with '/', e.g. /hubs/marketdata"}


def test_kafka_section(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        {
            "kafka": {
                "bootstrapServers": " ",
                "local": {"home": "~/kafka-here", "nodes": 3, "jit": "quick"},
            }
        },
    )
    assert settings.kafka.bootstrap_servers is None
    assert settings.kafka.local.home == Path.home() / "kafka-here"
    assert settings.kafka.local.nodes == 3
    assert settings.kafka.local.jit == "quick"

    found = problems(
        tmp_path,
        {
            "kafka": {
                "replicationFactor": 6,
                "compression": "brotli",
                "acks": "1",
                "local": {"nodes": 2, "version": "latest", "jit": "c2"},
            }
        },
    )
    assert set(found) == {
        "marketData.kafka.replicationFactor",
        "marketData.kafka.compression",
        "marketData.kafka.acks",  # fixed by design, not a setting
        "marketData.kafka.local.nodes",
        "marketData.kafka.local.version",
        "marketData.kafka.local.jit",
    }


def test_simulator_section(tmp_path: Path) -> None:
    settings = load(
        tmp_path, {"simulator": {"eventsPerSecond": 0, "faults": ["drop@30", "anything"]}}
    )
    assert settings.simulator.events_per_second == 0
    assert settings.simulator.faults == ("drop@30", "anything")  # the simulator validates them

    found = problems(tmp_path, {"simulator": {"symbols": ["BTC/USD", "BTCUSD"], "port": 70000}})
    assert set(found) == {"marketData.simulator.symbols[1]", "marketData.simulator.port"}


def test_processor_app_id_must_carry_a_version(tmp_path: Path) -> None:
    assert load(tmp_path, {"processors": {"appId": "md-v12"}}).processors.app_id == "md-v12"
    for bad in ("crypton-marketdata", "crypton-marketdata-v", "md-v1-x", "-v1"):
        found = problems(tmp_path, {"processors": {"appId": bad}})
        assert "-v<N>" in found["marketData.processors.appId"], bad


def test_processor_rules(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "processors": {
                "timeframes": ["1m", "2h", "1m"],
                "indicators": {"macd": {"fast": 26, "slow": 12}, "emaPeriods": [9, 9]},
                "graceSeconds": -1,
                "stallAfterSeconds": 0,
            }
        },
    )
    assert found == {
        "marketData.processors.timeframes[1]": (
            "Input should be '1m', '5m', '15m', '1h', '4h' or '1d'"
        ),
        "marketData.processors.indicators.macd.fast": "must be smaller than slow (12)",
        "marketData.processors.indicators.emaPeriods[1]": "duplicate of emaPeriods[0] (9)",
        "marketData.processors.graceSeconds": "Input should be greater than or equal to 0",
        "marketData.processors.stallAfterSeconds": "Input should be greater than 0",
    }


def test_the_shown_configuration_loads_back_unchanged(tmp_path: Path) -> None:
    original = load(tmp_path, {"exchanges": {"coinbase": {"enabled": False}}})
    again = load_config(write(tmp_path, original.redacted_yaml(), "shown.yaml"), {})
    assert again.market_data == original.market_data
