"""`marketdata config check [FILE]` and `marketdata config show [FILE]`.

`check` is for people and CI: exit 0 with `ok: FILE` (and any notices), or exit 2 with every
problem as `PATH: message` on stderr. `show` prints the effective configuration (file, defaults
and environment merged) as YAML with every secret masked, so it is safe to paste into an issue.
Without FILE both use the global `--config`, else MARKETDATA_CONFIG, else the built-in defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from marketdata.config import ConfigError, Settings, config_path_from, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="validate or print the configuration")
    actions = config.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="exit 0 if FILE is valid, else 2 listing every problem"
    )
    check.add_argument("file", type=Path, nargs="?", help="YAML file (default: --config)")
    check.set_defaults(func=check_config)
    show = actions.add_parser("show", help="print the effective configuration, secrets masked")
    show.add_argument("file", type=Path, nargs="?", help="YAML file (default: --config)")
    show.set_defaults(func=show_config)


def check_config(args: argparse.Namespace) -> int:
    """Validate; 0 when usable, 2 (like a usage error) when not."""
    path = _path(args)
    settings = _load(path)
    if settings is None:
        return 2
    print(f"ok: {path or '(built-in defaults)'}")
    for notice in settings.notices:
        print(f"notice: {notice}")
    return 0


def show_config(args: argparse.Namespace) -> int:
    """Print the effective configuration on stdout (notices go to stderr, so stdout stays YAML)."""
    settings = _load(_path(args))
    if settings is None:
        return 2
    for notice in settings.notices:
        print(f"notice: {notice}", file=sys.stderr)
    print(settings.redacted_yaml(), end="")
    return 0


def _path(args: argparse.Namespace) -> Path | None:
    file: Path | None = getattr(args, "file", None)
    return file or config_path_from(getattr(args, "config", None), os.environ)


def _load(path: Path | None) -> Settings | None:
    try:
        return load_config(path, os.environ)
    except ConfigError as exc:
        count = len(exc.problems)
        name = path or "(built-in defaults)"
        print(f"{name}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        for problem in exc.problems:
            print(f"{problem.path}: {problem.message}", file=sys.stderr)
        return None
