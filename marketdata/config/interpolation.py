"""`${VAR}` and `${VAR:-default}` in configuration string values, after YAML parsing.

Interpolating parsed values (never the raw text) means a variable can never inject YAML structure,
keys are never touched and numbers or booleans written in the file stay what they are. `$${` is a
literal `${`. A value is substituted once: text that comes from the environment is not scanned
again, so a secret containing `${` stays exactly as given.

Every unresolved reference is collected with the path it sits at, so the loader can report all of
them at once. A `${` that is neither a reference nor escaped (`${KEY`, `${1X}`, `${A:?err}`, a
nested default) is reported too rather than passed through: left alone it would silently become
part of a value, often a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(
    r"(?P<escape>\$\$\{)"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>(?:(?!\$\{)[^}])*))?\}"
    r"|(?P<malformed>\$\{)"
)

YamlPath = tuple[str | int, ...]
"""Keys and list indexes from the document root, e.g. `("marketData", "cache", "port")`."""


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A reference that could not be substituted, at a path in the document.

    `variable` is the name of an unset variable without a default, or None for a malformed `${`.
    """

    path: YamlPath
    variable: str | None


def interpolate_string(text: str, env: Mapping[str, str]) -> tuple[str, list[str | None]]:
    """Substitute the references in one string.

    Returns the new text and, in order, the names of unset variables without a default (each
    replaced by "") and None for each malformed `${` (kept as written).
    """
    unresolved: list[str | None] = []

    def substitute(match: re.Match[str]) -> str:
        if match["escape"]:
            return "${"
        if match["malformed"]:
            unresolved.append(None)
            return "${"
        name, default = match["name"], match["default"]
        value = env.get(name)
        if value or (value is not None and default is None):
            return value
        if default is not None:  # as in the shell, `:-` also covers a variable set to ""
            return default
        unresolved.append(name)
        return ""

    if "${" not in text:  # the common case: nothing to scan
        return text, unresolved
    return _TOKEN.sub(substitute, text), unresolved


def interpolate(node: object, env: Mapping[str, str]) -> tuple[object, list[Unresolved]]:
    """Interpolate every string value below `node` (a parsed YAML document); keys stay as written.

    Returns a new document (the input is not modified) and every reference left unresolved.
    """
    unresolved: list[Unresolved] = []
    return _walk(node, env, (), unresolved), unresolved


def _walk(node: object, env: Mapping[str, str], path: YamlPath, out: list[Unresolved]) -> object:
    if isinstance(node, str):
        text, unresolved = interpolate_string(node, env)
        out.extend(Unresolved(path, name) for name in unresolved)
        return text
    if isinstance(node, dict):
        return {key: _walk(child, env, (*path, str(key)), out) for key, child in node.items()}
    if isinstance(node, list):
        return [_walk(child, env, (*path, index), out) for index, child in enumerate(node)]
    return node


def escape(text: str) -> str:
    """The configuration spelling of a literal text: every `${` written as `$${`."""
    return text.replace("${", "$${")


def format_path(path: YamlPath) -> str:
    """`marketData.exchanges.kraken.symbols[1]`: the YAML's own keys, list indexes in brackets."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
