"""`marketdata schemas check|list`: the Avro contracts and their compatibility."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.codec import Codec
from schemas.compat import check_against_git
from schemas.topics import ALL


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schemas = sub.add_parser("schemas", help="check schema compatibility, list record types")
    ssub = schemas.add_subparsers(dest="schemas_cmd", required=True)
    check = ssub.add_parser(
        "check", help="fail (exit 2) unless every schema change is backward and forward compatible"
    )
    check.add_argument("--against", default="HEAD", help="git ref to compare with (default HEAD)")
    check.add_argument("--repo", type=Path, default=Path(), help="repository root (default .)")
    check.set_defaults(func=_check)
    lst = ssub.add_parser("list", help="record types, fingerprints and the topics carrying them")
    lst.set_defaults(func=_list)


def _check(args: argparse.Namespace) -> int:
    problems = check_against_git(args.against, args.repo)
    if problems:
        print(
            f"{len(problems)} incompatible schema change(s) against {args.against}:",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"ok: every schema is backward and forward compatible with {args.against}")
    return 0


def _list(_args: argparse.Namespace) -> int:
    codec = Codec()
    for name in codec.record_names:
        topics = ", ".join(t.name for t in ALL if t.record == name) or "-"
        print(f"{name:18} 0x{codec.fingerprint(name).hex()}  {topics}")
    return 0
