"""Configuration: one YAML file, validated, with `${VAR}` interpolation and masked secrets."""

from marketdata.config.loader import (
    ENV_CONFIG,
    ConfigError,
    Problem,
    Settings,
    config_path_from,
    load_config,
)
from marketdata.config.model import (
    ExchangeSettings,
    KafkaSettings,
    LocalKafkaSettings,
    MarketData,
    ProcessorSettings,
    SimulatorSettings,
)

__all__ = [
    "ENV_CONFIG",
    "ConfigError",
    "ExchangeSettings",
    "KafkaSettings",
    "LocalKafkaSettings",
    "MarketData",
    "Problem",
    "ProcessorSettings",
    "Settings",
    "SimulatorSettings",
    "config_path_from",
    "load_config",
]
