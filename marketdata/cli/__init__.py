"""The `marketdata` command line: one entry point, a subcommand per part.

Every subcommand takes `--config FILE` (or `MARKETDATA_CONFIG`), anywhere on the command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from marketdata import __version__
from marketdata.cli import (
    api_cmd,
    config_cmd,
    kafka_cmd,
    processor_cmd,
    producer_cmd,
    replay_cmd,
    run_cmd,
    schemas_cmd,
    simulate_cmd,
    topics_cmd,
)
from marketdata.logs import configure_logging

_COMMANDS = (
    run_cmd,
    kafka_cmd,
    topics_cmd,
    simulate_cmd,
    producer_cmd,
    processor_cmd,
    api_cmd,
    replay_cmd,
    config_cmd,
    schemas_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketdata",
        description="crypton-marketdata: real-time crypto market data over Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="configuration YAML (default: $MARKETDATA_CONFIG, else built-in)",
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `--config` may stand anywhere (`marketdata kafka up --config x.yaml`): take it out first.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--log-level")
    early, rest = pre.parse_known_args(argv)
    args = build_parser().parse_args(rest)
    args.config = early.config
    configure_logging(early.log_level or "INFO", part=args.command)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
