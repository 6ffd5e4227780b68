"""What is wrong with a configuration: every problem at once, each at its exact YAML path.

A config that fails on the first problem makes people fix-and-rerun once per typo; collecting every
problem (missing variables, wrong types, unknown keys, bad symbols) into one error lets a single
`marketdata config check` show them all. Messages never carry input values, so a secret that lands
in the wrong place is not echoed to a terminal or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the configuration is unusable.

    `path` is the YAML's own dotted path (`marketData.exchanges.kraken.symbols[1]`), or
    `line L, column C` for a syntax error, or `(file)` / `(top level)` for the file as a whole.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every reason with its path.

    Never retryable: the same file and environment fail the same way, so the process should stop
    and say why instead of restarting in a loop.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, problems: list[Problem], source: Path | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__(*problems)

    def __str__(self) -> str:
        where = str(self.source) if self.source else "the configuration"
        count = len(self.problems)
        lines = [f"{where} is invalid ({count} problem{'s' if count != 1 else ''}):"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)
