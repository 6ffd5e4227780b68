"""Configuration: one YAML file, validated, with `${VAR}` interpolation and masked secrets.

Load it once in `main()` with `load_config(config_path_from(args.config, os.environ))` and pass the
`Settings` (or the section a part needs) down; there is no module-level settings object.
"""

from marketdata.config.errors import ConfigError, Problem
from marketdata.config.exchanges import (
    ENDPOINTS,
    BinanceSettings,
    CoinbaseSettings,
    Endpoints,
    ExchangeSettings,
    ExchangesSettings,
    KrakenSettings,
)
from marketdata.config.fields import MASK
from marketdata.config.loader import BUILTIN_YAML, ENV_CONFIG, config_path_from, load_config
from marketdata.config.model import (
    CacheSettings,
    KafkaSettings,
    LocalKafkaSettings,
    MarketData,
    ProducerKafkaSettings,
    ServiceSettings,
    SignalRSettings,
    SimulatorSettings,
)
from marketdata.config.processors import ProcessorSettings
from marketdata.config.settings import Settings

__all__ = [
    "BUILTIN_YAML",
    "ENDPOINTS",
    "ENV_CONFIG",
    "MASK",
    "BinanceSettings",
    "CacheSettings",
    "CoinbaseSettings",
    "ConfigError",
    "Endpoints",
    "ExchangeSettings",
    "ExchangesSettings",
    "KafkaSettings",
    "KrakenSettings",
    "LocalKafkaSettings",
    "MarketData",
    "Problem",
    "ProcessorSettings",
    "ProducerKafkaSettings",
    "ServiceSettings",
    "Settings",
    "SignalRSettings",
    "SimulatorSettings",
    "config_path_from",
    "load_config",
]
