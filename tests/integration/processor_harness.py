"""Run `marketdata processor` as a real worker process against the test broker, and read what the
table topics hold (latest value per key, and every record per key)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import Codec
from schemas.models import Record
from schemas.topics import TopicSpec

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, bootstrap: str, app_id: str, **processors: object) -> Path:
    doc = {
        "marketData": {
            "kafka": {"bootstrapServers": bootstrap},
            "processors": {"appId": app_id, "dataDir": str(path.parent / "state"), **processors},
        }
    }
    path.write_text(yaml.safe_dump(doc), "utf-8")
    return path


@dataclass
class Worker:
    config: Path
    log: Path
    metrics_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        argv = [sys.executable, "-m", "marketdata", "--config", str(self.config), "processor"]
        if self.metrics_port:
            argv += ["--metrics-port", str(self.metrics_port)]
        env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text("utf-8", "replace")[-chars:]


@contextmanager
def worker(config: Path, log: Path, metrics_port: int = 0) -> Iterator[Worker]:
    w = Worker(config, log, metrics_port)
    w.start()
    try:
        yield w
    finally:
        w.stop()


@dataclass
class TableReader:
    """Group-less reader of table topics, from the beginning, keeping what matches a key prefix."""

    bootstrap: str
    topics: tuple[TopicSpec, ...]
    prefix: str
    latest: dict[tuple[str, str], Record] = field(default_factory=dict)
    history: dict[tuple[str, str], list[Record]] = field(default_factory=lambda: defaultdict(list))
    _consumer: AIOKafkaConsumer | None = None
    _codec: Codec = field(default_factory=Codec)

    async def __aenter__(self) -> TableReader:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        tps = [TopicPartition(s.name, p) for s in self.topics for p in range(s.partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def poll(self, seconds: float = 0.5) -> int:
        assert self._consumer is not None
        deadline, count = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            batch = await self._consumer.getmany(timeout_ms=200)
            for tp, messages in batch.items():
                for m in messages:
                    key = m.key.decode() if m.key else ""
                    if not key.startswith(self.prefix):
                        continue
                    record = self._codec.decode(m.value, topic=tp.topic, offset=m.offset)
                    self.latest[(tp.topic, key)] = record
                    self.history[(tp.topic, key)].append(record)
                    count += 1
        return count
