"""`marketdata config check FILE` and `marketdata config show [FILE]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from marketdata.config import ConfigError, config_path_from, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="validate or print the configuration")
    csub = config.add_subparsers(dest="config_cmd", required=True)
    check = csub.add_parser("check", help="exit 0 if FILE is valid, else 2 listing every problem")
    check.add_argument("file", type=Path, nargs="?", help="YAML file (default: --config)")
    check.set_defaults(func=_check)
    show = csub.add_parser("show", help="print the effective configuration, secrets masked")
    show.add_argument("file", type=Path, nargs="?", help="YAML file (default: --config)")
    show.set_defaults(func=_show)


def _path(args: argparse.Namespace) -> Path | None:
    return args.file or config_path_from(getattr(args, "config", None), os.environ)


def _check(args: argparse.Namespace) -> int:
    path = _path(args)
    try:
        settings = load_config(path, os.environ)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.path}: {problem.message}", file=sys.stderr)
        return 2
    print(f"ok: {path or '(built-in defaults)'}")
    for notice in settings.notices:
        print(f"note: {notice}")
    return 0


def _show(args: argparse.Namespace) -> int:
    path = _path(args)
    try:
        settings = load_config(path, os.environ)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(yaml.safe_dump(settings.redacted_dump(), sort_keys=False), end="")
    return 0
