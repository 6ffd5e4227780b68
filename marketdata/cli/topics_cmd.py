"""`marketdata topics ensure|list`: the design's topics on the broker, created idempotently."""

from __future__ import annotations

import argparse
import asyncio
import sys

from marketdata.cli.common import load_settings, require_bootstrap
from marketdata.kafka.admin import TopicDriftError, ensure_topics
from schemas.topics import ALL


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = sub.add_parser("topics", help="create and list the system's Kafka topics")
    tsub = topics.add_subparsers(dest="topics_cmd", required=True)
    ensure = tsub.add_parser("ensure", help="create missing topics, restore drifted configs")
    ensure.add_argument("--bootstrap", help="bootstrap servers (default: resolved as everywhere)")
    ensure.set_defaults(func=_ensure)
    lst = tsub.add_parser("list", help="print the declared topics and how they are kept")
    lst.set_defaults(func=_list)


def _ensure(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    bootstrap = args.bootstrap or require_bootstrap(settings)
    try:
        results = asyncio.run(
            ensure_topics(bootstrap, replication_factor=settings.kafka.replication_factor)
        )
    except TopicDriftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        detail = f" ({'; '.join(r.changes)})" if r.changes else ""
        print(f"{r.action.value:9} {r.name}{detail}")
    return 0


def _list(_args: argparse.Namespace) -> int:
    for t in ALL:
        retention = f"{t.retention_ms // 3_600_000}h" if t.retention_ms else "forever"
        print(
            f"{t.name:24} {t.kind.value:7} {t.cleanup.value:7} partitions={t.partitions} "
            f"retention={retention:8} record={t.record} key={t.key}"
        )
    return 0
