"""End-to-end latency: simulator event time to a WebSocket client's receipt, through real Kafka.

Runs the whole system as a user does (`marketdata run`: a local Kafka broker, the Kraken
simulator at the given event rate, the producer, the processors and the API; its own broker state
in a temporary directory), connects one `/ws` client subscribed to every symbol's trades and
prices, and measures `receipt time - exchange_ts` for every message for D seconds after a
warm-up. Two paths:

- trades: exchange → producer → Kafka (`md.trades.v1`) → API → client (one Kafka hop);
- prices: exchange → producer → Kafka → processor → Kafka (`md.prices.v1`) → API → client.

The simulator stamps events with this machine's clock, so the difference is a true latency.

    .venv/bin/python bench/bench_latency.py [--rates 500 2000] [--seconds 20] [--linger-ms 5 0]
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
import time
from pathlib import Path

import websockets
import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_system(tmp: Path, rate: int, port: int, linger_ms: int) -> subprocess.Popen[str]:
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "marketData": {
                    "service": {"port": port, "host": "127.0.0.1"},
                    "simulator": {"eventsPerSecond": rate},
                    "processors": {"dataDir": str(tmp / "state")},
                    "kafka": {"lingerMs": linger_ms},
                }
            }
        ),
        "utf-8",
    )
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
        if line.startswith("API: "):
            return
        seen.append(line)
        if time.monotonic() > deadline or system.poll() is not None:
            break
    raise RuntimeError("the system did not start:\n" + "".join(seen[-30:]))


async def measure(port: int, warmup: float, seconds: float) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {"trades": [], "prices": []}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_queue=None) as ws:
        await ws.recv()
        for channel in ("trades", "prices"):
            await ws.send(json.dumps({"op": "subscribe", "channel": channel}))
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < warmup + seconds:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            now_us = time.time_ns() // 1000
            if message["type"] != "update" or elapsed < warmup:
                continue
            latencies[message["channel"]].append((now_us - message["data"]["exchange_ts"]) / 1000)
    return latencies


def summary(values: list[float]) -> str:
    if not values:
        return "no messages"
    ordered = sorted(values)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (
        f"{len(values):>7} msgs  p50 {statistics.median(values):7.1f} ms  p90 {p(0.9):7.1f} ms  "
        f"p99 {p(0.99):7.1f} ms  max {ordered[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument(
        "--linger-ms", type=int, nargs="+", default=[5], help="producer linger (kafka.lingerMs)"
    )
    args = parser.parse_args()
    print("end-to-end latency, simulator event time -> /ws client receipt (ms)")
    for rate, linger in [(r, g) for r in args.rates for g in args.linger_ms]:
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            system = start_system(Path(tmp), rate, port, linger)
            try:
                wait_ready(system)
                results = asyncio.run(measure(port, args.warmup, args.seconds))
            finally:
                system.send_signal(signal.SIGINT)
                try:
                    system.wait(60)
                except subprocess.TimeoutExpired:
                    system.kill()
        label = f"{rate:>5} events/s, linger {linger} ms"
        print(f"{label}  trades (1 Kafka hop):  {summary(results['trades'])}")
        print(f"{label}  prices (2 Kafka hops): {summary(results['prices'])}")


if __name__ == "__main__":
    main()
