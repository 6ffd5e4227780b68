"""`Consumption` reads where a faust consumer stands on each partition (here a stand-in with the
same attributes) for `/metrics` and the stall watch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from processors.consumption import Consumption

TRADES0, TRADES1 = TP("md.trades.v1", 0), TP("md.trades.v1", 1)


@dataclass(eq=False)
class Queue:
    size: int

    def qsize(self) -> int:
        return self.size


@dataclass(eq=False)  # hashable by identity, as faust's channels
class Channel:
    topics: tuple[str, ...]
    _queue: Queue | None


@dataclass
class Conductor:
    _topics: set[Any]


@dataclass
class Consumer:
    assigned: set[TP]
    _active_partitions: set[TP] | None
    _read_offset: dict[TP, int | None] = field(default_factory=dict)
    _committed_offset: dict[TP, int | None] = field(default_factory=dict)
    ends: dict[TP, int] = field(default_factory=dict)
    _thread: object = True

    def assignment(self) -> set[TP]:
        return self.assigned

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] + 100 for tp in tps}


@dataclass
class Agent:
    channel: Channel


@dataclass
class App:
    _consumer: Consumer | None
    topics: Conductor = field(default_factory=lambda: Conductor(set()))
    agents: dict[str, Agent] = field(
        default_factory=lambda: {"candles": Agent(Channel(("md.trades.v1",), None))}
    )
    rebalancing: bool = False

    @property
    def consumer(self) -> Consumer:
        assert self._consumer is not None
        return self._consumer


def consumer() -> Consumer:
    return Consumer(
        assigned={TRADES0, TRADES1, TP("app-v1-prices_by_symbol-changelog", 0)},
        _active_partitions={TRADES0},
        _read_offset={TRADES0: 41, TRADES1: None},
        _committed_offset={TRADES0: 42},
        ends={TRADES0: 42, TRADES1: 7, TP("app-v1-prices_by_symbol-changelog", 0): 9},
    )


def test_each_assigned_partition_is_reported_with_offsets_fetching_and_buffered_records() -> None:
    channel = Channel(("md.trades.v1",), Queue(5))
    app = App(consumer(), Conductor({channel, Channel(("md.book.v1",), None)}))
    states = {(s.topic, s.partition): s for s in Consumption(app).partitions()}
    assert set(states) == {("md.trades.v1", 0), ("md.trades.v1", 1)}  # no changelog
    first, second = states["md.trades.v1", 0], states["md.trades.v1", 1]
    assert (first.read, first.committed, first.end, first.fetching) == (41, 42, 42, True)
    assert (first.waiting, first.buffered) == (0, 5)
    assert (second.read, second.committed, second.end, second.fetching) == (None, None, 7, False)
    assert second.waiting == 7  # nothing committed: every record is still to do


def test_a_worker_that_has_not_started_its_consumer_reports_nothing() -> None:
    assert Consumption(App(None)).partitions() == []


def test_metrics_carry_every_partition_and_leave_out_what_is_unknown() -> None:
    registry = CollectorRegistry()
    Consumption(App(consumer(), Conductor({Channel(("md.trades.v1",), Queue(3))}))).register(
        registry
    )
    text = generate_latest(registry).decode()
    labels = '{partition="0",topic="md.trades.v1"}'
    assert f"marketdata_processor_partition_read_offset{labels} 41.0" in text
    assert f"marketdata_processor_partition_committed_offset{labels} 42.0" in text
    assert f"marketdata_processor_partition_end_offset{labels} 42.0" in text
    assert f"marketdata_processor_partition_fetching{labels} 1.0" in text
    other = '{partition="1",topic="md.trades.v1"}'
    assert f"marketdata_processor_partition_fetching{other} 0.0" in text
    assert f"marketdata_processor_partition_read_offset{other}" not in text  # nothing read
    assert 'marketdata_processor_stream_buffered{topic="md.trades.v1"} 3.0' in text


async def test_the_broker_end_offsets_stand_in_for_the_last_fetch() -> None:
    watch = Consumption(App(consumer()))
    ends = await watch.end_offsets()
    assert (ends[TRADES0], ends[TRADES1]) == (142, 107)
    states = {s.partition: s for s in watch.partitions(ends)}
    assert (states[0].end, states[0].waiting) == (142, 100)


def test_a_partition_is_stalled_once_records_wait_untaken_for_the_whole_period() -> None:
    c = consumer()
    watch = Consumption(App(c), stall_after_s=30)
    assert watch.stalled(now=0) == []
    assert watch.stalled(now=29) == []
    [stalled] = watch.stalled(now=30)  # partition 0 is caught up: never stalled
    assert (stalled.partition, stalled.waiting) == (1, 7)
    assert watch.stalled(now=60) == []  # reported once per stall
    c._read_offset[TRADES1] = 3  # it moved: a new stall is reported again
    assert watch.stalled(now=61) == []
    assert [s.partition for s in watch.stalled(now=91)] == [1]


def test_a_partition_that_caught_up_or_a_rebalance_starts_the_clock_again() -> None:
    c = consumer()
    app = App(c)
    watch = Consumption(app, stall_after_s=30)
    watch.stalled(now=0)
    c._read_offset[TRADES1], c._committed_offset[TRADES1] = 6, 7  # caught up
    assert watch.stalled(now=20) == []
    c.ends[TRADES1] = 9
    assert watch.stalled(now=40) == []  # waiting since 20 only
    app.rebalancing = True
    assert watch.stalled(now=55) == []
    app.rebalancing = False
    assert watch.stalled(now=70) == []  # the clock started at 70
    assert [s.partition for s in watch.stalled(now=100)] == [1]


def test_a_stall_that_outlives_a_rebalance_is_reported_again() -> None:
    c = consumer()
    app = App(c)
    watch = Consumption(app, stall_after_s=30)
    watch.stalled(now=0)
    assert [s.partition for s in watch.stalled(now=30)] == [1]
    app.rebalancing = True
    watch.stalled(now=40)
    app.rebalancing = False
    assert watch.stalled(now=41) == []
    assert [s.partition for s in watch.stalled(now=71)] == [1]  # the same stall, a new assignment


def test_records_taken_but_never_committed_are_a_stall_too() -> None:
    c = consumer()
    c._read_offset[TRADES1], c.ends[TRADES1] = 6, 7  # partition 1 is read to its end
    watch = Consumption(App(c), stall_after_s=30)
    assert watch.stalled(now=0) == []
    [stalled] = watch.stalled(now=30)  # partition 1: read, never committed
    assert (stalled.partition, stalled.waiting) == (1, 7)
    c._committed_offset[TRADES1] = 7
    assert watch.stalled(now=100) == []


def test_a_partition_sought_to_its_end_is_not_stalled() -> None:
    """faust keeps the position it seeks to (the committed offset) as the read offset until a
    record arrives: read, committed and end all equal is a partition with nothing to do."""
    c = consumer()
    c._read_offset[TRADES1] = c._committed_offset[TRADES1] = c.ends[TRADES1] = 16
    watch = Consumption(App(c), stall_after_s=30)
    watch.stalled(now=0)
    assert watch.stalled(now=100) == []
