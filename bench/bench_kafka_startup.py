"""Start-up time of the local Kafka broker: cold (resolve from Maven Central) and warm (cached).

Cold uses an empty Maven repository and an empty cache folder, so it measures the real first run
of a new machine: downloading the broker's jars, formatting storage and starting. Warm repeats the
start with everything cached. Three nodes are measured warm too. Prints a table.

    .venv/bin/python bench/bench_kafka_startup.py [--skip-cold] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from marketdata.kafka.local import LocalKafka
from marketdata.kafka.runtime import DEFAULT_VERSION, resolve


def start_stop(
    home: Path | None, nodes: int, maven_repo: Path | None = None
) -> tuple[float, float, float]:
    t0 = time.monotonic()
    runtime = resolve(DEFAULT_VERSION, home, maven_repo=maven_repo)
    t1 = time.monotonic()
    with tempfile.TemporaryDirectory() as state:
        cluster = LocalKafka(runtime, Path(state), nodes=nodes)
        cluster.start()
        t2 = time.monotonic()
        cluster.stop()
    return t1 - t0, t2 - t1, t2 - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, float, float, float]] = []
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as repo:
            resolve_s, start_s, total = start_stop(Path(home), 1, Path(repo))
            rows.append(("1 node, cold (empty Maven repo and cache)", resolve_s, start_s, total))
    for nodes in (1, 3):
        runs = [start_stop(None, nodes) for _ in range(args.runs)]
        rows.append(
            (
                f"{nodes} node{'s' if nodes > 1 else ''}, warm (median of {args.runs})",
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                statistics.median(r[2] for r in runs),
            )
        )
    print(f"Apache Kafka {DEFAULT_VERSION} local start-up on this machine")
    print(f"{'case':45} {'resolve s':>10} {'start s':>8} {'total s':>8}")
    for name, r, s, t in rows:
        print(f"{name:45} {r:10.2f} {s:8.2f} {t:8.2f}")


if __name__ == "__main__":
    main()
