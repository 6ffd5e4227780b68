"""Load: end-to-end latency at rising event rates until p99 passes 100 ms, and memory per part.

Each rate runs the whole system as `bench_latency.py` does (`marketdata run`: its own local Kafka
broker, the Kraken simulator at that rate, the producer, the processor and the API) with one
`/ws` client subscribed to every symbol's trades and prices, and reports for the measured period:

- p50 / p95 / p99 of `receipt time - exchange_ts` for trades (one Kafka hop) and prices (two);
- the messages delivered to the client, and the event rate the simulator achieved;
- the peak resident memory (RSS, from /proc) of each part, sampled twice a second over the run.

The rates rise until a p99 passes 100 ms (the spec's ceiling) or the list ends.
`--soak SECONDS` instead runs one rate (`--rate`) for that long and prints latency and the RSS of
every part at each `--interval`, so a long run shows whether memory stays bounded.

    .venv/bin/python bench/bench_load.py [--rates 250 500 1000 2000 4000] [--seconds 20]
    .venv/bin/python bench/bench_load.py --soak 1800 --rate 1000 [--interval 60]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.bench_latency import free_port, measure, start_system, wait_ready
from tests.faults.pipeline_harness import argv_of, part_pids, rss_kib

PARTS = ("simulator", "producer", "processor", "api", "kafka")
CEILING_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    """The same rank rule as bench_latency's summary."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Memory:
    """RSS of each part of a running `marketdata run`, sampled in a thread."""

    root: int
    peak: dict[str, int] = field(default_factory=dict)
    now: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        for part, pid in part_pids(self.root).items():
            kib = rss_kib(pid)
            self.now[part] = kib
            self.peak[part] = max(self.peak.get(part, 0), kib)

    def run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    @contextmanager
    def sampling(self) -> Iterator[Memory]:
        thread = threading.Thread(target=self.run, daemon=True, name="rss")
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)


def drain(system: subprocess.Popen[str], tail: deque[str]) -> None:
    """Keep reading the run's output (a full pipe would stall every part), keeping the tail."""
    assert system.stdout is not None
    for line in system.stdout:
        tail.append(line)


def simulator_rate(root: int) -> float:
    """The event rate the simulator achieved (its control API; its port is on its command line)."""
    pid = part_pids(root).get("simulator")
    argv = argv_of(pid) if pid else []
    if "--port" not in argv:
        return float("nan")
    port = argv[argv.index("--port") + 1]
    state = httpx.get(f"http://127.0.0.1:{port}/_sim/state", timeout=5).json()
    return float(state["events_per_second_achieved"])


@contextmanager
def system(rate: int, linger_ms: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        run = start_system(Path(tmp), rate, port, linger_ms)
        tail: deque[str] = deque(maxlen=50)
        try:
            wait_ready(run)
            threading.Thread(target=drain, args=(run, tail), daemon=True).start()
            yield run, port
        except BaseException:
            print("".join(tail))
            raise
        finally:
            run.send_signal(signal.SIGINT)
            try:
                run.wait(60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()


def mib(kib: int | None) -> str:
    return f"{kib / 1024:6.0f}" if kib else "     -"


def header() -> str:
    latency = f"{'n':>7} {'p50':>6} {'p95':>6} {'p99':>6}"
    rss = " ".join(f"{p:>6}" for p in ("sim", "prod", "proc", "api", "kafka"))
    return f"{'events/s':>8} {'achieved':>8} | trades{latency} | prices{latency} | RSS MiB {rss}"


def row(rate: int, achieved: float, results: dict[str, list[float]], peak: dict[str, int]) -> str:
    cells = [f"{rate:>8} {achieved:>8.0f}"]
    for path in ("trades", "prices"):
        v = results[path]
        cells.append(
            f"{'':6}{len(v):>7} {percentile(v, 0.5):6.1f} {percentile(v, 0.95):6.1f} "
            f"{percentile(v, 0.99):6.1f}"
        )
    cells.append(f"{'':7} " + " ".join(mib(peak.get(p)) for p in PARTS))
    return " | ".join(cells)


def rising(args: argparse.Namespace) -> None:
    print("end-to-end latency (ms, simulator event time -> /ws client receipt) by event rate;")
    print(f"{args.warmup:g} s warm-up, {args.seconds:g} s measured, linger {args.linger_ms} ms;")
    print("RSS: the peak of each part over the whole run, warm-up included")
    print(header())
    for rate in args.rates:
        with (
            system(rate, args.linger_ms) as (run, port),
            Memory(run.pid).sampling() as memory,
        ):
            results = asyncio.run(measure(port, args.warmup, args.seconds))
            achieved = simulator_rate(run.pid)
        print(row(rate, achieved, results, memory.peak), flush=True)
        p99 = max(percentile(results[p], 0.99) for p in ("trades", "prices"))
        if p99 > CEILING_MS:
            print(f"p99 {p99:.1f} ms passed {CEILING_MS:.0f} ms at {rate} events/s: stopping")
            return
    print(f"p99 stayed under {CEILING_MS:.0f} ms at every rate given")


def soak(args: argparse.Namespace) -> None:
    print(f"soak: {args.rate} events/s for {args.soak:g} s (after {args.warmup:g} s warm-up);")
    print(f"latency (ms) and RSS (MiB) of each part every {args.interval:g} s")
    names = "  ".join(f"{p:>9}" for p in PARTS)
    paths = " | ".join(f"{p:>6} {'p50':>5} {'p99':>5}" for p in ("trades", "prices"))
    print(f"{'t s':>6} | {paths} | {names}")
    with system(args.rate, args.linger_ms) as (run, port):
        memory = Memory(run.pid)
        asyncio.run(measure(port, args.warmup, 0))
        memory.sample()
        first = dict(memory.now)
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < args.soak:
            results = asyncio.run(measure(port, 0, min(args.interval, args.soak - elapsed)))
            memory.sample()
            lat = " | ".join(
                f"{p:>6} {percentile(results[p], 0.5):5.1f} {percentile(results[p], 0.99):5.1f}"
                for p in ("trades", "prices")
            )
            rss = "  ".join(f"{mib(memory.now.get(p)):>9}" for p in PARTS)
            print(f"{time.monotonic() - began:6.0f} | {lat} | {rss}", flush=True)
    growth = "  ".join(
        f"{p} {mib(first.get(p)).strip()}->{mib(memory.now.get(p)).strip()}" for p in PARTS
    )
    print(f"RSS MiB first -> last: {growth}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--linger-ms", type=int, default=0, help="producer linger (kafka.lingerMs)")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="one long run at --rate")
    parser.add_argument("--rate", type=int, default=1000, help="the soak's event rate")
    parser.add_argument("--interval", type=float, default=60, help="the soak's reporting period")
    args = parser.parse_args()
    if args.soak:
        soak(args)
    else:
        rising(args)


if __name__ == "__main__":
    main()
