"""Load the one configuration file: YAML, then `${VAR}` interpolation, then validation.

Every problem is collected before failing (missing variables, wrong types, unknown keys, bad
symbols), each at its exact YAML path, so one run of `marketdata config check` shows them all.

One exception to "a missing variable is fatal": an exchange's `apiKey` / `secretKey`. The spec's
own file references `${KRAKEN_API_KEY}` and must run without it (public data needs no key), so an
unset key disables that exchange's private data and says so in `Settings.notices`, which the
caller logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from marketdata.config.errors import ConfigError, Problem
from marketdata.config.exchanges import ExchangesSettings
from marketdata.config.interpolation import YamlPath, format_path, interpolate
from marketdata.config.model import Document
from marketdata.config.problems import document_problems
from marketdata.config.settings import Settings
from marketdata.config.yaml_source import parse_yaml, read_yaml

ENV_CONFIG: Final = "MARKETDATA_CONFIG"
_SECRET_FIELDS: Final = (("apiKey", "api_key"), ("secretKey", "secret_key"))

BUILTIN_YAML: Final = """\
marketData:
  service:
    host: "localhost"
    port: 5001
  cache:
    priceTtlSeconds: 1
    orderBookTtlSeconds: 5
    balanceTtlSeconds: 30
  exchanges:
    kraken:
      enabled: true
      apiKey: "${KRAKEN_API_KEY}"
      secretKey: "${KRAKEN_SECRET}"
      rateLimit:
        requestsPerMinute: 15
        requestsPerSecond: 5
      symbols:
        - "BTC/USD"
        - "ETH/USD"
        - "SOL/USD"
  signalr:
    hubPath: "/hubs/marketdata"
    enableAuthentication: false
"""
"""The configuration without a file: the original spec's file, so running with no file behaves
exactly like running with it (keys still come from KRAKEN_API_KEY / KRAKEN_SECRET)."""


def config_path_from(value: str | None, env: Mapping[str, str]) -> Path | None:
    """The file named on the command line, else by MARKETDATA_CONFIG, else None (built-in)."""
    chosen = (value or env.get(ENV_CONFIG, "")).strip()
    return Path(chosen).expanduser() if chosen else None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate the file at `path` (None: the built-in defaults) against `env`
    (default: the process environment); raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    raw = parse_yaml(BUILTIN_YAML, None) if path is None else read_yaml(path)
    tree, unresolved = interpolate(raw, env)
    problems: list[Problem] = []
    reported: set[str] = set()  # paths already blamed on a variable: validating "" says nothing
    unset_keys: dict[tuple[str, str], list[str]] = {}
    for ref in unresolved:
        where = format_path(ref.path)
        if ref.variable is None:
            problems.append(
                Problem(where, "malformed '${': write ${NAME} or ${NAME:-default}, or $${ for '${'")
            )
        elif (secret := _exchange_secret(ref.path)) is not None:
            _set(tree, ref.path, None)
            unset_keys.setdefault(secret, []).append(ref.variable)
            continue
        else:
            problems.append(
                Problem(
                    where,
                    f"environment variable {ref.variable} is not set "
                    f"(give a default with ${{{ref.variable}:-default}} if it is optional)",
                )
            )
        reported.add(where)
    try:
        document = Document.model_validate(tree)
    except ValidationError as exc:
        problems.extend(p for p in document_problems(exc) if p.path not in reported)
        raise ConfigError(problems, path) from None
    if problems:
        raise ConfigError(problems, path)
    notices = _private_data_notices(document.market_data.exchanges, unset_keys)
    return Settings(document.market_data, path, notices)


def _exchange_secret(path: YamlPath) -> tuple[str, str] | None:
    """(exchange, key) when `path` is `marketData.exchanges.<exchange>.apiKey|secretKey`."""
    match path:
        case ("marketData", "exchanges", str(exchange), "apiKey" | "secretKey" as key):
            return exchange, key
    return None


def _set(tree: object, path: YamlPath, value: object) -> None:
    node = tree
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]  # the path was just walked by interpolate()
    node[path[-1]] = value  # type: ignore[index]


def _private_data_notices(
    exchanges: ExchangesSettings, unset_keys: Mapping[tuple[str, str], list[str]]
) -> tuple[str, ...]:
    """One line per enabled exchange that runs without private data, saying why."""
    notices: list[str] = []
    for name, exchange in exchanges.enabled().items():
        if exchange.private_enabled:
            continue
        reasons: list[str] = []
        for alias, attr in _SECRET_FIELDS:
            if getattr(exchange, attr) is not None:
                continue
            if variables := unset_keys.get((name, alias)):
                reasons.extend(f"{variable} is not set" for variable in variables)
            elif (file := getattr(exchange, f"{attr}_file")) is not None:
                reasons.append(f"{alias}File {file} is empty")
            else:
                reasons.append(f"{alias} is not configured")
        notices.append(f"exchanges.{name}: private data disabled: {', '.join(reasons)}")
    return tuple(notices)
