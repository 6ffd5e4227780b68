"""Schema evolution guard: every change must stay backward AND forward compatible.

BACKWARD: a reader on the new schema decodes records written with the old one (consumers upgrade
first). FORWARD: a reader still on the old schema decodes records written with the new one
(producers upgrade first). Checked with the `avro` package's reference compatibility checker,
against the schemas committed at a git ref (HEAD by default).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

SCHEMA_DIR = Path("schemas/avro")


def _describe(direction: str, reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = [str(getattr(i, "value", i)) for i in result.incompatibilities]
    details = sorted(zip(result.locations, result.messages, strict=False)) or [("/", "")]
    return [
        f"{direction}: {location} {message} ({', '.join(sorted(set(kinds)))})".replace("  ", " ")
        for location, message in details
    ]


def check_compatibility(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Problems that make `new` incompatible with `old` in either direction (empty: compatible)."""
    old_s = avro.schema.parse(json.dumps(old))
    new_s = avro.schema.parse(json.dumps(new))
    problems = _describe("BACKWARD (new reader, old writer)", new_s, old_s)
    problems += _describe("FORWARD (old reader, new writer)", old_s, new_s)
    if old.get("name") != new.get("name") or old.get("namespace") != new.get("namespace"):
        problems.append("record renamed: readers resolve by full name; add an alias instead")
    return problems


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)


def check_against_git(ref: str = "HEAD", repo_root: Path = Path()) -> list[str]:
    """Compare each working-tree schema with its version at `ref`; a new schema is fine."""
    listed = _git(repo_root, "ls-tree", "--name-only", f"{ref}:{SCHEMA_DIR.as_posix()}")
    if listed.returncode != 0:
        if "Not a valid object name" in listed.stderr or "not a tree" in listed.stderr.lower():
            return []  # nothing committed at that ref yet: every schema is new
        if "not a git repository" in listed.stderr:
            return []  # an installed copy without history has nothing to compare with
        return [f"git could not list {SCHEMA_DIR} at {ref}: {listed.stderr.strip()}"]
    problems: list[str] = []
    committed = {n for n in listed.stdout.split() if n.endswith(".avsc")}
    present = {p.name for p in (repo_root / SCHEMA_DIR).glob("*.avsc")}
    for name in sorted(committed - present):
        problems.append(f"{name}: deleted, but records written with it may still be in Kafka")
    for name in sorted(committed & present):
        shown = _git(repo_root, "show", f"{ref}:{(SCHEMA_DIR / name).as_posix()}")
        old = json.loads(shown.stdout)
        new = json.loads((repo_root / SCHEMA_DIR / name).read_text("utf-8"))
        problems.extend(f"{name}: {p}" for p in check_compatibility(old, new))
    return problems
