"""Load the one configuration file: YAML, then `${VAR}` interpolation, then validation.

Every problem is collected before failing (missing variables, wrong types, unknown keys, bad
symbols), each with the exact YAML path, so one run of `marketdata config check` shows them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from marketdata.config.interpolation import Missing, format_path, interpolate
from marketdata.config.model import (
    CacheSettings,
    Document,
    ExchangesSettings,
    KafkaSettings,
    MarketData,
    ProcessorSettings,
    ServiceSettings,
    SignalRSettings,
    SimulatorSettings,
)

ENV_CONFIG = "MARKETDATA_CONFIG"
_SECRET_KEYS = ("apiKey", "secretKey")
_MASK = "**********"


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every reason with its path."""

    def __init__(self, problems: list[Problem], source: Path | None = None) -> None:
        self.problems = problems
        self.source = source
        where = str(source) if source else "configuration"
        super().__init__(f"{where}: " + "; ".join(map(str, problems)))

    def __str__(self) -> str:
        where = str(self.source) if self.source else "configuration"
        return f"{where} is invalid:\n" + "\n".join(f"  {p}" for p in self.problems)


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration, loaded once in `main()` and passed down."""

    market_data: MarketData
    source: Path | None = None
    notices: tuple[str, ...] = field(default=())

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
        """The effective configuration as YAML-ready data, camelCase keys, secrets masked."""
        data = Document(market_data=self.market_data).model_dump(mode="json", by_alias=True)
        masked: dict[str, Any] = _mask(data)
        return masked


def _mask(node: Any) -> Any:
    # model_dump(mode="json") renders SecretStr as "**********" already; mask again defensively
    # so a future plain-str secret field cannot leak through a dump.
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SECRET_KEYS and value is not None:
                out[key] = _MASK
            elif key == "apiKeys":
                out[key] = [_MASK] * len(value)
            else:
                out[key] = _mask(value)
        return out
    if isinstance(node, list):
        return [_mask(v) for v in node]
    return node


def config_path_from(value: str | None, env: Mapping[str, str]) -> Path | None:
    """The file named on the command line, else by MARKETDATA_CONFIG, else None (defaults)."""
    chosen = value or env.get(ENV_CONFIG, "").strip()
    return Path(chosen) if chosen else None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    if path is None:
        return Settings(MarketData())
    raw = _read_yaml(path)
    tree, missing = interpolate(raw, env)
    problems: list[Problem] = []
    notices: list[str] = []
    missing_paths: set[str] = set()
    for m in missing:
        if _is_exchange_secret(m):
            exchange = str(m.path[2])
            _set(tree, m.path, None)
            notices.append(f"exchanges.{exchange}: private data disabled: {m.variable} is not set")
        else:
            missing_paths.add(format_path(m.path))
            problems.append(
                Problem(
                    format_path(m.path),
                    f"environment variable {m.variable} "
                    "is not set and has no default (${VAR:-default})",
                )
            )
    _blank_secrets_to_none(tree)
    problems.extend(_read_secret_files(tree))
    try:
        document = Document.model_validate(tree)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = format_path(tuple(error["loc"])) or "(top level)"
            if where not in missing_paths:
                problems.append(Problem(where, _message(error)))
        raise ConfigError(problems, path) from None
    if problems:
        raise ConfigError(problems, path)
    for name, ex in document.market_data.exchanges.enabled().items():
        if not ex.private_enabled and not any(n.startswith(f"exchanges.{name}:") for n in notices):
            notices.append(f"exchanges.{name}: private data disabled: no API key configured")
    return Settings(document.market_data, path, tuple(notices))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem("(file)", f"cannot read {path}: {exc.strerror}")], path
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(where, f"YAML syntax error: {reason}")], path) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            [
                Problem(
                    "(top level)",
                    f"expected a mapping with a marketData key, got {type(raw).__name__}",
                )
            ],
            path,
        )
    return raw


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.example.yaml)"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def _is_exchange_secret(m: Missing) -> bool:
    p = m.path
    return len(p) == 4 and p[0] == "marketData" and p[1] == "exchanges" and p[3] in _SECRET_KEYS


def _exchanges(tree: object) -> dict[str, Any]:
    if isinstance(tree, dict):
        md = tree.get("marketData")
        if isinstance(md, dict) and isinstance(md.get("exchanges"), dict):
            return {k: v for k, v in md["exchanges"].items() if isinstance(v, dict)}
    return {}


def _blank_secrets_to_none(tree: object) -> None:
    for ex in _exchanges(tree).values():
        for key in _SECRET_KEYS:
            if ex.get(key) == "":
                ex[key] = None


def _read_secret_files(tree: object) -> list[Problem]:
    """Resolve apiKeyFile/secretKeyFile (mounted secrets) into the secret values."""
    problems: list[Problem] = []
    for name, ex in _exchanges(tree).items():
        for key in _SECRET_KEYS:
            file_key = f"{key}File"
            if not isinstance(ex.get(file_key), str):
                continue
            where = f"marketData.exchanges.{name}.{file_key}"
            if ex.get(key) is not None:
                problems.append(Problem(where, f"set {key} or {file_key}, not both"))
                continue
            try:
                ex[key] = Path(ex[file_key]).expanduser().read_text("utf-8").strip() or None
            except OSError as exc:
                problems.append(Problem(where, f"cannot read secret file: {exc.strerror}"))
            ex[file_key] = None  # resolved: the model holds the value, not the path
    return problems


def _set(tree: Any, path: tuple[str | int, ...], value: object) -> None:
    node = tree
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
