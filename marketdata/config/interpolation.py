"""`${VAR}` and `${VAR:-default}` in configuration string values, after YAML parsing.

Interpolating parsed values (never the raw text) means a variable can never inject YAML structure,
and keys are never touched. `$${` is a literal `${`. Every missing variable is collected with the
path it was referenced from, so the loader can report all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Missing:
    """A `${VAR}` with no value and no default, at a path in the document."""

    path: Path
    variable: str


def interpolate_string(text: str, env: Mapping[str, str], missing: list[str]) -> str:
    """Replace references in one string; unset variables without a default go to `missing`."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _REF.sub(sub, text)


def interpolate(
    node: object,
    env: Mapping[str, str],
    path: Path = (),
) -> tuple[object, list[Missing]]:
    """Interpolate every string value below `node`; return the new tree and what was missing."""
    found: list[Missing] = []
    if isinstance(node, str):
        names: list[str] = []
        text = interpolate_string(node, env, names)
        found.extend(Missing(path, n) for n in names)
        return text, found
    if isinstance(node, dict):
        out: dict[object, object] = {}
        for key, child in node.items():
            out[key], sub = interpolate(child, env, (*path, str(key)))
            found.extend(sub)
        return out, found
    if isinstance(node, list):
        items: list[object] = []
        for index, child in enumerate(node):
            item, sub = interpolate(child, env, (*path, index))
            items.append(item)
            found.extend(sub)
        return items, found
    return node, found


def format_path(path: Path) -> str:
    """`marketData.exchanges.kraken.symbols[1]`: the YAML's own keys, list indexes in brackets."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
