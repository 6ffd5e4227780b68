"""Batched table writes: a key's state reaches its changelog once per flush, and the records
behind a write are acknowledged only after the flush that sends it."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import faust
import msgspec
import pytest
from faust.streams import _current_event

from processors.tables import StateTable, WriteBehind


class Counter(msgspec.Struct):
    n: int = 0
    note: str = ""


@dataclass
class Message:
    partition: int


@dataclass
class Event:
    """What the tables and the batcher use of a faust event."""

    partition: int
    log: list[str]
    acked: bool = False
    message: Message = field(init=False)

    def __post_init__(self) -> None:
        self.message = Message(self.partition)

    def ack(self) -> bool:
        self.acked = True
        self.log.append(f"ack p{self.partition}")
        return True


@pytest.fixture
def app() -> faust.App:
    return faust.App("tables-test", broker="memory://", store="memory://")


def processing(event: Event) -> None:
    _current_event.set(weakref.ref(event))  # type: ignore[arg-type]


def recording(table: StateTable[Any], log: list[str]) -> list[tuple[int | None, bytes, bytes]]:
    sent: list[tuple[int | None, bytes, bytes]] = []

    def send(partition: int | None, key: bytes, value: bytes) -> None:
        sent.append((partition, key, value))
        log.append(f"changelog {key.decode()}")

    table.table.send_changelog = send  # type: ignore[method-assign]
    return sent


def test_a_key_written_many_times_reaches_the_changelog_once_per_flush(app: faust.App) -> None:
    log: list[str] = []
    writes = WriteBehind(interval_s=3600)
    table = StateTable(app, "counts", Counter, writes)
    sent = recording(table, log)
    writes.flush()  # the first hold would flush at once
    events = [Event(i % 2, log) for i in range(10)]
    for i, event in enumerate(events):
        processing(event)
        key = b"a" if i % 2 == 0 else b"b"
        state = table.get(key) or Counter()
        state.n += 1
        table.put(key, state)
        writes.hold(event)
    assert sent == []
    assert not any(e.acked for e in events)
    assert table.get(b"a") == Counter(5)  # read back from the cache before any flush
    assert sorted(table.owned_keys()) == [b"a", b"b"]
    writes.flush()
    decode = msgspec.msgpack.Decoder(Counter).decode
    assert [(p, k, decode(v)) for p, k, v in sent] == [(0, b"a", Counter(5)), (1, b"b", Counter(5))]
    assert log[:2] == ["changelog a", "changelog b"]  # sent before anything is acknowledged
    assert all(e.acked for e in events)
    assert writes.held == 0
    assert table.table.get(b"a") == sent[0][2]  # what a rebalance reloads from


def test_a_view_is_made_when_the_write_is_sent_not_when_it_is_put(app: faust.App) -> None:
    log: list[str] = []
    writes = WriteBehind(interval_s=3600)
    table = StateTable(app, "views", Counter, writes)
    sent = recording(table, log)
    writes.flush()
    event = Event(2, log)
    processing(event)
    state = Counter(1, "heavy")
    table.put(b"k", state, lambda s: msgspec.structs.replace(s, note=""))
    state.n = 7  # changed later by the same worker (a timer)
    writes.flush()
    assert msgspec.msgpack.decode(sent[0][2], type=Counter) == Counter(7, "")
    assert table.get(b"k") is state


def test_a_due_flush_happens_on_the_next_hold_and_zero_means_every_record(app: faust.App) -> None:
    log: list[str] = []
    writes = WriteBehind(interval_s=0)
    table = StateTable(app, "eager", Counter, writes)
    sent = recording(table, log)
    for i in range(3):
        event = Event(0, log)
        processing(event)
        table.put(b"k", Counter(i))
        writes.hold(event)
        assert event.acked
    assert len(sent) == 3


def test_a_table_is_written_only_while_a_record_is_processed(app: faust.App) -> None:
    table = StateTable(app, "strict", Counter, WriteBehind(0.1))
    _current_event.set(None)
    with pytest.raises(RuntimeError, match="only while a record is processed"):
        table.put(b"k", Counter())
