"""The whole system as a user runs it (`marketdata run`), seen from outside: its parts' processes,
their output, exact ranges of Kafka topics, and an exchange clock that can run faster than ours.

- `RunProcess` starts `marketdata run` as a child, keeps every line it prints (the children's
  prefixed logs included) in memory and in a file, and finds each part's current process in
  /proc, so a test can `kill -9` a part and wait for the supervisor to bring it back.
- `part_pids` / `rss_kib` read /proc only (no psutil), for the tests and `bench/bench_load.py`.
- `end_offsets`, `commit_group_offsets` and `read_from` pin a test to the records it caused:
  the session broker's topics also hold what earlier tests wrote.
- `ScaledClock` is an exchange clock running `speed` times faster than the wall clock, so a test
  sees several one-minute candle windows close within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.codec import Codec
from schemas.models import Record
from schemas.topics import TopicSpec, by_name

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("simulator", "producer", "processor", "api", "kafka")
_SUBCOMMANDS = {
    "simulate": "simulator",
    "producer": "producer",
    "processor": "processor",
    "api": "api",
}


class ScaledClock:
    """Exchange time that starts at the wall clock's now and runs `speed` times as fast."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.time_ns()

    def now_ns(self) -> int:
        return self._t0 + int((time.time_ns() - self._t0) * self.speed)

    def wall_s(self, exchange_ns: int) -> float:
        """The wall time (seconds since the epoch) at which the exchange clock shows this."""
        return (self._t0 + (exchange_ns - self._t0) / self.speed) / 1e9


# ---- processes ----------------------------------------------------------------------------------


def part_of(argv: Sequence[str]) -> str | None:
    """Which part a command line runs: `python -m marketdata [--config F] <sub> ...`, or the
    Kafka broker's JVM; None for anything else."""
    if any(arg == "kafka.Kafka" for arg in argv):
        return "kafka"
    if "marketdata" not in argv:
        return None
    rest = list(argv[argv.index("marketdata") + 1 :])
    while rest and rest[0].startswith("--"):
        rest = rest[2:] if "=" not in rest[0] else rest[1:]
    return _SUBCOMMANDS.get(rest[0]) if rest else None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in task.read_text().split()]
    return out


def argv_of(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def part_pids(root: int) -> dict[str, int]:
    """The live process of each part below `root` (a `marketdata run`), by part name."""
    found: dict[str, int] = {}
    stack = _children(root)
    while stack:
        pid = stack.pop()
        name = part_of(argv_of(pid))
        if name is not None and _alive(pid):
            found[name] = pid
        stack += _children(pid)
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class RunProcess:
    """`marketdata run` as a child process, its output kept line by line."""

    process: subprocess.Popen[str]
    log: Path
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, config: Path, log: Path, env: dict[str, str]) -> RunProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "marketdata", "--config", str(config), "run"],
            cwd=config.parent,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        run = cls(process, log)
        threading.Thread(target=run._pump, daemon=True, name="run-output").start()
        return run

    def _pump(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("a", encoding="utf-8") as out, self.process.stdout as stream:
            for line in stream:
                out.write(line)
                with self._lock:
                    self.lines.append(line.rstrip("\n"))

    def mark(self) -> int:
        """The number of lines so far: pass it to `wait_line` to look only at what follows."""
        with self._lock:
            return len(self.lines)

    def find(self, predicate: Callable[[str], bool], after: int = 0) -> str | None:
        with self._lock:
            return next((line for line in self.lines[after:] if predicate(line)), None)

    async def wait_line(
        self, predicate: Callable[[str], bool], *, after: int = 0, timeout: float = 60.0
    ) -> str:
        """The first line after index `after` that satisfies `predicate` (polls: never blocks
        the event loop, which may be serving the simulator)."""
        deadline = time.monotonic() + timeout
        while (line := self.find(predicate, after)) is None:
            if self.process.poll() is not None:
                raise AssertionError(f"`marketdata run` exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no such line within {timeout:.0f}s:\n{self.tail()}")
            await asyncio.sleep(0.1)
        return line

    def pid(self, part: str) -> int | None:
        return part_pids(self.process.pid).get(part)

    def kill9(self, part: str) -> int:
        pid = self.pid(part)
        assert pid is not None, f"no {part} process to kill:\n{self.tail()}"
        os.kill(pid, signal.SIGKILL)
        return pid

    async def wait_replaced(self, part: str, old: int, timeout: float = 60.0) -> int:
        """The pid of the process the supervisor started in place of `old`."""
        deadline = time.monotonic() + timeout
        while (pid := self.pid(part)) in (None, old):
            assert time.monotonic() < deadline, f"{part} was not restarted:\n{self.tail()}"
            await asyncio.sleep(0.1)
        assert pid is not None
        return pid

    def tail(self, lines: int = 40) -> str:
        with self._lock:
            return "\n".join(self.lines[-lines:])

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (Ctrl-C), as a user stops it; SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


# ---- Kafka ranges -------------------------------------------------------------------------------


def partitions(specs: Iterable[TopicSpec]) -> list[TopicPartition]:
    return [TopicPartition(s.name, p) for s in specs for p in range(s.partitions)]


async def end_offsets(bootstrap: str, specs: Iterable[TopicSpec]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = partitions(specs)
        for _ in range(49):  # topics created a moment ago may not have leaders yet
            with contextlib.suppress(KafkaError):
                ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
                return ends
            await asyncio.sleep(0.2)
        ends = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def commit_group_offsets(
    bootstrap: str, group: str, offsets: dict[TopicPartition, int]
) -> None:
    """Start `group` (a faust app id) at these offsets instead of the topics' beginnings."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def committed_offsets(
    bootstrap: str, group: str, specs: Iterable[TopicSpec]
) -> dict[TopicPartition, int | None]:
    """What `group` has committed on these topics (None: nothing)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in partitions(specs)}
    finally:
        await consumer.stop()


@dataclass(frozen=True, slots=True)
class Fetched:
    topic: str
    partition: int
    offset: int
    key: str
    record: Record


async def read_from(
    bootstrap: str,
    start: dict[TopicPartition, int],
    prefix: str | tuple[str, ...],
    *,
    until: dict[TopicPartition, int] | None = None,
) -> list[Fetched]:
    """Every record from `start` up to `until` (default: the end offsets now) whose key starts
    with `prefix` (or one of them), in offset order per partition."""
    until = until or await end_offsets(bootstrap, _specs_of(start))
    wanted = [tp for tp in start if until.get(tp, 0) > start[tp]]
    if not wanted:  # (a consumer stopped right after its start raises CancelledError)
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    codec, out = Codec(), []
    try:
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start[tp])
        left = set(wanted)
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset >= until[tp]:
                        break
                    key = m.key.decode() if m.key else ""
                    if key.startswith(prefix):
                        record = codec.decode(m.value, topic=tp.topic, offset=m.offset)
                        out.append(Fetched(tp.topic, tp.partition, m.offset, key, record))
            left = {tp for tp in left if await consumer.position(tp) < until[tp]}
    finally:
        await consumer.stop()
    return out


def _specs_of(offsets: dict[TopicPartition, int]) -> list[TopicSpec]:
    return [by_name(name) for name in sorted({tp.topic for tp in offsets})]


def latest_by_key(fetched: Iterable[Fetched]) -> dict[tuple[str, str], Record]:
    latest: dict[tuple[str, str], Record] = {}
    for f in fetched:
        latest[(f.topic, f.key)] = f.record
    return latest


def by_key(fetched: Iterable[Fetched], topic: str) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    for f in sorted(fetched, key=lambda f: (f.partition, f.offset)):
        if f.topic == topic:
            out[f.key].append(f.record)
    return out


def sequence_runs(seqs: Sequence[int]) -> list[list[int]]:
    """Split per-key sequence numbers into producer runs: a run counts up by one; a producer
    that restarts starts above everything before (its base is its start time in microseconds).
    Anything else (a repeat, a step back, a small jump) also starts a new run, and shows up as
    a run too many."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][-1] + 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return runs
