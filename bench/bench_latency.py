"""End-to-end latency: simulator event time to a WebSocket client's receipt, through real Kafka.

Runs the whole system as a user does (`marketdata run`: a local Kafka broker, the Kraken
simulator at the given event rate, the producer, the processors and the API; its own broker state
in a temporary directory), connects one `/ws` client subscribed to every symbol's trades and
prices, and measures `receipt time - exchange_ts` for every message for D seconds after a
warm-up. Two paths:

- trades: exchange → producer → Kafka (`md.trades.v1`) → API → client (one Kafka hop);
- prices: exchange → producer → Kafka (`md.ticker.v1`, `md.trades.v1`) → API → client, the API
  moving each price on the raw ticker or trade itself (`schemas.prices`); a price the processors'
  table (`md.prices.v1`, two hops) has first reaches the client that way instead (its `seq` is
  the table's, not 0: `prices from the table` counts them and gives their latency);
- book (with `--channels trades prices book`): exchange → producer → Kafka (`md.book.v1`) →
  API → client (one hop: the API builds each book from the updates with the processors' code,
  `schemas.books`; the book table, `md.books.v1`, serves a book only until the API read its
  snapshot). Each message is the book as of its newest update.

The simulator stamps events with this machine's clock, so the difference is a true latency.
It also prints each part's CPU over the measured window (utime + stime from /proc, in % of one
core): on two cores, a sum near 200% means the parts queue for the CPU; and the machine's, with
the time the hypervisor gave its CPUs to others (steal).

    .venv/bin/python bench/bench_latency.py [--rates 500 2000] [--seconds 20] [--linger-ms 5 0]
        [--channels trades prices book] [--set processors.changelogFlushMs=0 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import websockets
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.pipeline_harness import part_pids  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_system(
    tmp: Path, rate: int, port: int, linger_ms: int, overrides: dict[str, Any] | None = None
) -> subprocess.Popen[str]:
    doc: dict[str, Any] = {
        "service": {"port": port, "host": "127.0.0.1"},
        "simulator": {"eventsPerSecond": rate},
        "processors": {"dataDir": str(tmp / "state")},
        "kafka": {"lingerMs": linger_ms},
    }
    for path, value in (overrides or {}).items():
        *parents, leaf = path.split(".")
        node = doc
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({"marketData": doc}), "utf-8")
    env = {**os.environ, "MARKETDATA_KAFKA_STATE_DIR": str(tmp / "kafka")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "marketdata", "--config", str(config), "run"],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(system: subprocess.Popen[str], timeout: float = 180) -> None:
    assert system.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    for line in system.stdout:
        if line.startswith("API: "):  # from now on the logs are drained, never read
            threading.Thread(
                target=lambda: [None for _ in system.stdout or ()], daemon=True
            ).start()
            return
        seen.append(line)
        if time.monotonic() > deadline or system.poll() is not None:
            break
    raise RuntimeError("the system did not start:\n" + "".join(seen[-30:]))


async def measure(
    port: int,
    warmup: float,
    seconds: float,
    cpu: CpuWindow | None = None,
    channels: tuple[str, ...] = ("trades", "prices"),
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per channel: the end-to-end latencies, and the part of each spent before the producer
    had the event (`received_ts - exchange_ts`: the simulator and the WebSocket to it)."""
    latencies: dict[str, list[float]] = {channel: [] for channel in channels}
    ingress: dict[str, list[float]] = {channel: [] for channel in channels}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_queue=None) as ws:
        await ws.recv()
        for channel in channels:
            await ws.send(json.dumps({"op": "subscribe", "channel": channel}))
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < warmup + seconds:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            now_us = time.time_ns() // 1000
            if message["type"] != "update" or elapsed < warmup:
                continue
            if cpu is not None and not any(latencies.values()):
                cpu.start()
            data = message["data"]
            latency = (now_us - data["exchange_ts"]) / 1000
            latencies[message["channel"]].append(latency)
            if message["channel"] == "prices" and data["seq"]:
                latencies.setdefault("prices from the table", []).append(latency)
            ingress[message["channel"]].append((data["received_ts"] - data["exchange_ts"]) / 1000)
    return latencies, ingress


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


class CpuWindow:
    """Each part's CPU between `start` and `stop`, in % of one core."""

    def __init__(self, root: int) -> None:
        self.pids = part_pids(root)
        self._hz = os.sysconf("SC_CLK_TCK")
        self._t0, self._ticks = 0.0, dict.fromkeys(self.pids, 0)
        self._machine = (0, 0)
        self.busy = self.steal = 0.0
        """The whole machine's busy and stolen time over the window (% of one core)."""

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._ticks = {part: cpu_ticks(pid) for part, pid in self.pids.items()}
        self._machine = machine_ticks()

    def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self._t0
        used = {
            part: 100 * (cpu_ticks(pid) - self._ticks[part]) / self._hz / elapsed
            for part, pid in self.pids.items()
        }
        self.steal = 100 * (machine_ticks()[1] - self._machine[1]) / self._hz / elapsed
        self.busy = 100 * (machine_ticks()[0] - self._machine[0]) / self._hz / elapsed
        return used


def machine_ticks() -> tuple[int, int]:
    """(busy, steal) clock ticks of the whole machine: steal is time the hypervisor gave this
    machine's CPUs to others, a slower stretch that is not ours."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> str:
    if not values:
        return "no messages"
    ordered = sorted(values)
    return (
        f"{len(values):>7} msgs  p50 {statistics.median(values):7.1f} ms  "
        f"p90 {quantile(ordered, 0.9):7.1f} ms  p99 {quantile(ordered, 0.99):7.1f} ms  "
        f"max {ordered[-1]:7.1f} ms"
    )


def split(total: list[float], ingress: list[float]) -> str:
    """Where the time went: before the producer had the event, and from there to the client."""
    if not total:
        return ""
    before = sorted(ingress)
    after = sorted(t - i for t, i in zip(total, ingress, strict=True))
    return (
        f"simulator -> producer p50 {statistics.median(before):.1f} / p99 "
        f"{quantile(before, 0.99):.1f} ms, producer -> client p50 {statistics.median(after):.1f}"
        f" / p99 {quantile(after, 0.99):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument(
        "--linger-ms", type=int, nargs="+", default=[5], help="producer linger (kafka.lingerMs)"
    )
    parser.add_argument(
        "--channels",
        nargs="+",
        default=["trades", "prices"],
        choices=["trades", "prices", "book"],
        help="the /ws channels the client subscribes to and measures",
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="PATH=VALUE",
        help="configuration under marketData, e.g. processors.changelogFlushMs=0 (YAML values)",
    )
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
    print("end-to-end latency, simulator event time -> /ws client receipt (ms)")
    for rate, linger in [(r, g) for r in args.rates for g in args.linger_ms]:
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            system = start_system(Path(tmp), rate, port, linger, overrides)
            try:
                wait_ready(system)
                cpu = CpuWindow(system.pid)
                results, ingress = asyncio.run(
                    measure(port, args.warmup, args.seconds, cpu, tuple(args.channels))
                )
                used = cpu.stop()
            finally:
                system.send_signal(signal.SIGINT)
                try:
                    system.wait(60)
                except subprocess.TimeoutExpired:
                    system.kill()
        label = f"{rate:>5} events/s, linger {linger} ms"
        for path in args.channels:
            print(f"{label}  {path + ':':<8} {summary(results[path])}")
        if "prices" in args.channels:
            table = results.get("prices from the table", [])
            print(f"{label}  prices from the table: {summary(table) if table else 'none'}")
        for path in args.channels:
            if results[path]:
                print(f"{label}  {path} split: {split(results[path], ingress[path])}")
        parts = ", ".join(f"{part} {pct:.0f}%" for part, pct in sorted(used.items()))
        print(f"{label}  CPU over the window: {parts} (sum {sum(used.values()):.0f}%)")
        print(f"{label}  machine: busy {cpu.busy:.0f}%, steal {cpu.steal:.1f}% (of one core)")


if __name__ == "__main__":
    main()
