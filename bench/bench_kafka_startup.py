"""Start-up time of the local Kafka broker: cold (resolve from Maven Central) and warm (cached).

Cold uses an empty Maven repository and an empty cache folder, so it measures the real first run
of a new machine: downloading the broker's jars, formatting storage and starting. Warm repeats the
start with everything cached, once per JIT mode (`tiered`, the default, and `quick`, C1 only, which
the test suite uses), with the CPU seconds the broker JVMs spent getting ready. Three nodes are
measured warm too. Prints a table.

    .venv/bin/python bench/bench_kafka_startup.py [--skip-cold] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from marketdata.kafka.local import JitMode, LocalKafka
from marketdata.kafka.runtime import DEFAULT_VERSION, resolve


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_stop(
    home: Path | None, nodes: int, maven_repo: Path | None = None, jit: JitMode = "tiered"
) -> tuple[float, float, float, float]:
    t0 = time.monotonic()
    runtime = resolve(DEFAULT_VERSION, home, maven_repo=maven_repo)
    t1 = time.monotonic()
    with tempfile.TemporaryDirectory() as state:
        cluster = LocalKafka(runtime, Path(state), nodes=nodes, jit=jit)
        ready = cluster.start()
        t2 = time.monotonic()
        cpu = sum(cpu_seconds(n.pid) for n in ready.nodes)
        cluster.stop()
    return t1 - t0, t2 - t1, t2 - t0, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, float, float, float, float]] = []
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as repo:
            rows.append(
                (
                    "1 node, tiered, cold (empty Maven repo and cache)",
                    *start_stop(Path(home), 1, Path(repo)),
                )
            )
    cases: list[tuple[int, JitMode]] = [(1, "tiered"), (1, "quick"), (3, "tiered"), (3, "quick")]
    for nodes, jit in cases:
        runs = [start_stop(None, nodes, jit=jit) for _ in range(args.runs)]
        rows.append(
            (
                f"{nodes} node{'s' if nodes > 1 else ''}, {jit}, warm (median of {args.runs})",
                *(statistics.median(r[i] for r in runs) for i in range(4)),
            )
        )
    print(f"Apache Kafka {DEFAULT_VERSION} local start-up on this machine")
    print(f"{'case':50} {'resolve s':>10} {'start s':>8} {'total s':>8} {'broker CPU s':>13}")
    for name, r, s, t, cpu in rows:
        print(f"{name:50} {r:10.2f} {s:8.2f} {t:8.2f} {cpu:13.2f}")


if __name__ == "__main__":
    main()
