"""Reading the configuration file into plain data, with syntax errors located by line and column.

Duplicate keys are refused: plain `yaml.safe_load` keeps the last one silently, so a second
`kraken:` block pasted further down would quietly replace the first.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from marketdata.config.errors import ConfigError, Problem


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # SafeLoader reports unhashable keys itself
            if key in first_line:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key '{key}' (first at line {first_line[key] + 1})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """The file's top-level mapping; ConfigError if it cannot be read or parsed, or is not one."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem("(file)", f"cannot read {path}: {exc.strerror}")], path
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("(file)", f"{path} is not UTF-8 text")], path) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, source: Path | None) -> dict[str, Any]:
    """Parse one document; `source` only names it in errors."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        if isinstance(exc, ConstructorError):  # well-formed, but not a document we accept
            problem = Problem(where, f"invalid YAML: {exc.problem}")
        else:
            context = f" ({exc.context})" if exc.context else ""
            problem = Problem(where, f"YAML syntax error: {exc.problem}{context}")
        raise ConfigError([problem], source) from None
    except yaml.YAMLError as exc:
        problem = Problem("(file)", f"YAML error: {type(exc).__name__}")
        raise ConfigError([problem], source) from None
    if not isinstance(raw, dict):
        got = "an empty document" if raw is None else f"a {type(raw).__name__}"
        problem = Problem("(top level)", f"expected a mapping with a marketData key, got {got}")
        raise ConfigError([problem], source)
    return raw
