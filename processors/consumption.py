"""Where the worker's consumer stands on each input partition, for operators and for the
stall watch.

faust keeps this state in its consumer (read and committed offsets, the partitions it fetches)
and says nothing about it. `Consumption` reads it on demand:

- a Prometheus collector (`marketdata_processor_partition_*`) answers each scrape with every
  assigned partition of the topics its agents read: its read offset, committed offset, end
  offset (as of the last fetch) and whether it is being fetched (0: paused, or its stream buffer
  is full), plus the records waiting in each input topic's stream buffer;
- `stalled` names the partitions with records not committed yet (not taken, or taken and not
  acknowledged) on which neither the read nor the committed offset has moved for a while, with
  everything that says why; the worker logs them (`processor.partition_stalled`), once per
  stall.

Read-only, and cheap: nothing per record. The scrape runs in the metrics server's thread, so
the state is copied (whole-container copies, atomic under the GIL) before it is read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True, slots=True)
class PartitionState:
    topic: str
    partition: int
    read: int | None
    """Offset of the last record handed to the streams, or the position sought to (faust
    keeps both in one place); None: neither yet."""
    committed: int | None
    end: int | None
    """The partition's end offset as of the last fetch (None: not fetched yet)."""
    fetching: bool
    buffered: int
    """Records in the stream buffers of the partition's topic (all partitions together)."""

    @property
    def waiting(self) -> int:
        """Records in the partition not committed yet: not taken, being processed, or waiting
        for their table writes to be flushed (0 when the end is unknown). faust commits the
        next offset to read; its read offset is that same position right after a seek, and
        the last record handed over after that, so the committed offset alone is exact."""
        if self.end is None:
            return 0
        return max(0, self.end - (self.committed or 0))

    @property
    def progress(self) -> tuple[int | None, int | None]:
        return self.read, self.committed


@dataclass(slots=True)
class Consumption:
    app: Any
    """The faust app."""
    stall_after_s: float = 30.0
    _moved: dict[tuple[str, int], tuple[tuple[int | None, int | None], float]] = field(
        default_factory=dict
    )
    _reported: set[tuple[str, int]] = field(default_factory=set)

    def partitions(self, ends: dict[Any, int] | None = None) -> list[PartitionState]:
        """Every assigned partition's state; `ends`: end offsets asked of the broker (else
        those of the last fetch, which stand still for a partition not fetched)."""
        consumer = getattr(self.app, "_consumer", None)
        if consumer is None or getattr(consumer, "_thread", None) is None:
            return []
        try:
            assigned = set(consumer.assignment())
        except Exception:  # not started, or stopping
            return []
        active = set(consumer._active_partitions or ())
        read = dict(consumer._read_offset)
        committed = dict(consumer._committed_offset)
        read_by_agents = self._agent_topics()
        buffered = self._buffered()
        out = []
        for tp in sorted(tp for tp in assigned if tp.topic in read_by_agents):
            end = None if ends is None else ends.get(tp)
            if end is None:
                try:
                    end = consumer.highwater(tp)
                except Exception:  # its fetcher does not know it (yet)
                    end = None
            out.append(
                PartitionState(
                    topic=tp.topic,
                    partition=tp.partition,
                    read=read.get(tp),
                    committed=committed.get(tp),
                    end=end,
                    fetching=tp in active,
                    buffered=buffered.get(tp.topic, 0),
                )
            )
        return out

    def _agent_topics(self) -> set[str]:
        """The topics the agents read. The worker is also assigned its tables' changelogs (read
        at recovery only) and faust's leader topic, which would look stalled forever."""
        return {
            name
            for agent in list(self.app.agents.values())
            for name in getattr(agent.channel, "topics", ())
        }

    def _buffered(self) -> dict[str, int]:
        """Records waiting in each topic's stream buffers (the channels the consumer delivers
        to: the agents' iterators)."""
        out: dict[str, int] = {}
        for channel in list(getattr(self.app.topics, "_topics", ())):
            queue = getattr(channel, "_queue", None)
            if queue is None:
                continue
            for name in getattr(channel, "topics", ()):
                out[name] = max(out.get(name, 0), queue.qsize())
        return out

    async def end_offsets(self) -> dict[Any, int]:
        """The assigned partitions' end offsets, asked of the broker."""
        consumer = self.app.consumer
        tps = list(consumer.assignment())
        return dict(await consumer.highwaters(*tps)) if tps else {}

    def stalled(
        self, ends: dict[Any, int] | None = None, now: float | None = None
    ) -> list[PartitionState]:
        """Partitions with work waiting whose read and committed offsets have not moved for
        `stall_after_s`, each reported once per stall (a rebalance starts the clocks again)."""
        now = time.monotonic() if now is None else now
        if self.app.rebalancing:  # a new assignment: a stall still there is reported anew
            self._moved.clear()
            self._reported.clear()
            return []
        found = []
        for state in self.partitions(ends):
            key = (state.topic, state.partition)
            progress, since = self._moved.get(key, (state.progress, now))
            if progress != state.progress or not state.waiting:
                since = now
                self._reported.discard(key)
            self._moved[key] = (state.progress, since)
            if now - since >= self.stall_after_s and key not in self._reported:
                self._reported.add(key)
                found.append(state)
        return found

    def collector(self) -> Collector:
        return _Collector(self)

    def register(self, registry: CollectorRegistry) -> None:
        registry.register(self.collector())


class _Collector(Collector):
    def __init__(self, consumption: Consumption) -> None:
        self._consumption = consumption

    def describe(self) -> Iterable[Any]:
        return list(_families())

    def collect(self) -> Iterator[Any]:
        families = _families()
        read, committed, end, fetching, buffered = families
        topics: dict[str, int] = {}
        for s in self._consumption.partitions():
            labels = [s.topic, str(s.partition)]
            if s.read is not None:
                read.add_metric(labels, s.read)
            if s.committed is not None:
                committed.add_metric(labels, s.committed)
            if s.end is not None:
                end.add_metric(labels, s.end)
            fetching.add_metric(labels, 1.0 if s.fetching else 0.0)
            topics[s.topic] = s.buffered
        for topic, size in sorted(topics.items()):
            buffered.add_metric([topic], size)
        yield from families


def _families() -> tuple[GaugeMetricFamily, ...]:
    tp = ["topic", "partition"]
    return (
        GaugeMetricFamily(
            "marketdata_processor_partition_read_offset",
            "Offset of the last record handed to the streams, per input partition.",
            labels=tp,
        ),
        GaugeMetricFamily(
            "marketdata_processor_partition_committed_offset",
            "Offset the worker committed last (the next record to read after a restart).",
            labels=tp,
        ),
        GaugeMetricFamily(
            "marketdata_processor_partition_end_offset",
            "The partition's end offset as of the worker's last fetch.",
            labels=tp,
        ),
        GaugeMetricFamily(
            "marketdata_processor_partition_fetching",
            "1 while the partition is fetched; 0 while paused or its stream buffer is full.",
            labels=tp,
        ),
        GaugeMetricFamily(
            "marketdata_processor_stream_buffered",
            "Records waiting in an input topic's stream buffer.",
            labels=["topic"],
        ),
    )
