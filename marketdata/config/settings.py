"""`Settings`: the loaded configuration as the rest of the program sees it.

It is built once in `main()` (by `load_config`) and passed down; nothing caches it. Next to the
validated model it carries where it came from and the notices the loader wants logged (e.g. an
exchange running without private data because its keys are not set).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from marketdata.config.exchanges import ExchangesSettings
from marketdata.config.fields import MASK
from marketdata.config.model import (
    CacheSettings,
    Document,
    KafkaSettings,
    MarketData,
    ServiceSettings,
    SignalRSettings,
    SimulatorSettings,
)
from marketdata.config.processors import ProcessorSettings

_SECRET_KEYS: Final = frozenset({"apiKey", "secretKey", "apiKeys"})


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration, its source file (None: built-in defaults) and notices."""

    market_data: MarketData
    source: Path | None = None
    notices: tuple[str, ...] = ()

    @property
    def service(self) -> ServiceSettings:
        return self.market_data.service

    @property
    def cache(self) -> CacheSettings:
        return self.market_data.cache

    @property
    def exchanges(self) -> ExchangesSettings:
        return self.market_data.exchanges

    @property
    def signalr(self) -> SignalRSettings:
        return self.market_data.signalr

    @property
    def kafka(self) -> KafkaSettings:
        return self.market_data.kafka

    @property
    def simulator(self) -> SimulatorSettings:
        return self.market_data.simulator

    @property
    def processors(self) -> ProcessorSettings:
        return self.market_data.processors

    def redacted_dump(self) -> dict[str, Any]:
        """The effective configuration as plain YAML-ready data (camelCase keys, a new dict on
        every call), every secret replaced by the mask and absent ones left null."""
        data = Document(market_data=self.market_data).model_dump(mode="json", by_alias=True)
        masked: dict[str, Any] = _mask(data)
        return masked

    def redacted_yaml(self) -> str:
        """`redacted_dump()` as YAML text, in the file's own key order."""
        return yaml.safe_dump(self.redacted_dump(), sort_keys=False, allow_unicode=True)


def _mask(node: Any, secret: bool = False) -> Any:
    # `model_dump(mode="json")` already renders SecretStr as the mask; masking by key as well
    # means a secret can never leak through a dump, whatever type a future field gives it.
    if isinstance(node, dict):
        return {key: _mask(value, key in _SECRET_KEYS) for key, value in node.items()}
    if isinstance(node, list):
        return [_mask(value, secret) for value in node]
    if secret and node is not None:
        return MASK
    return node
