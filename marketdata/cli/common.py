"""What every subcommand shares: loading the configuration, progress lines, the broker address."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from marketdata.config import ConfigError, Settings, config_path_from, load_config
from marketdata.kafka.broker import configured_bootstrap
from marketdata.kafka.local import status
from marketdata.logs import get_logger

log = get_logger("marketdata.cli")


def progress(message: str) -> None:
    """A human progress line on stderr (stdout stays machine-readable: addresses, tables)."""
    print(f"» {message}", file=sys.stderr, flush=True)


def load_settings(args: argparse.Namespace) -> Settings:
    """Load the configuration named by --config / MARKETDATA_CONFIG (or the defaults); exit 2 on
    any problem, listing every one with its path."""
    path = config_path_from(getattr(args, "config", None), os.environ)
    try:
        settings = load_config(path, os.environ)
    except ConfigError as exc:
        print(f"error: configuration {path or '(defaults)'} is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.path}: {problem.message}", file=sys.stderr)
        raise SystemExit(2) from None
    for notice in settings.notices:
        log.warning("config.notice", message=notice)
    return settings


def require_bootstrap(settings: Settings) -> str:
    """The configured broker, else the one `kafka up` started here; exit 1 with advice if none."""
    if bootstrap := configured_bootstrap(settings.kafka, os.environ):
        return bootstrap
    state, alive = status(default_state_dir())
    if state is not None and alive and all(alive.values()):
        return state.bootstrap
    print(
        "error: no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS, kafka.bootstrapServers, "
        "or run `marketdata kafka up`",
        file=sys.stderr,
    )
    raise SystemExit(1)


def default_state_dir() -> Path:
    """Where the local broker keeps data, logs and pids: $MARKETDATA_KAFKA_STATE_DIR or ./.kafka."""
    return Path(os.environ.get("MARKETDATA_KAFKA_STATE_DIR", ".kafka"))
