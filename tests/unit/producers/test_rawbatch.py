"""Raw frames batched per connection: order kept, every limit closes a batch, nothing held back
after a drain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.core.rawbatch import RawBatcher
from schemas.models import RawFrames


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def payloads(batches: list[RawFrames]) -> list[bytes]:
    return [item.payload for batch in batches for item in batch.frames]


def test_frames_wait_until_the_batch_is_old_enough_then_go_together_in_order() -> None:
    clock = Clock()
    raw = RawBatcher("kraken", 0.1, clock=clock)
    assert raw.add("c", "book", b"1", 1) == []
    clock.now += 0.05
    assert raw.add("c", "trade", b"2", 2) == []
    assert raw.due() == []
    assert raw.waiting == 2
    clock.now += 0.06
    (batch,) = raw.due()
    assert batch.exchange == "kraken"
    assert batch.connection_id == "c"
    assert [(i.channel, i.payload, i.received_ts) for i in batch.frames] == [
        ("book", b"1", 1),
        ("trade", b"2", 2),
    ]
    assert raw.waiting == 0
    assert raw.due() == []


def test_a_frame_arriving_after_the_age_closes_the_batch_with_it() -> None:
    clock = Clock()
    raw = RawBatcher("kraken", 0.1, clock=clock)
    raw.add("c", "book", b"1", 1)
    clock.now += 0.2
    assert payloads(raw.add("c", "book", b"2", 2)) == [b"1", b"2"]


def test_age_zero_makes_every_frame_a_batch_of_its_own() -> None:
    raw = RawBatcher("kraken", 0.0, clock=Clock())
    assert [len(b.frames) for b in raw.add("c", "book", b"1", 1)] == [1]
    assert raw.waiting == 0


def test_the_frame_count_closes_a_batch() -> None:
    raw = RawBatcher("kraken", 60, max_frames=3, clock=Clock())
    assert raw.add("c", "x", b"1", 1) == []
    assert raw.add("c", "x", b"2", 2) == []
    assert payloads(raw.add("c", "x", b"3", 3)) == [b"1", b"2", b"3"]
    assert raw.waiting == 0


def test_a_frame_that_would_overflow_the_bytes_starts_the_next_batch() -> None:
    raw = RawBatcher("kraken", 60, max_bytes=10, clock=Clock())
    assert raw.add("c", "x", b"aaaa", 1) == []
    assert raw.add("c", "x", b"bbbb", 2) == []
    closed = raw.add("c", "x", b"cccc", 3)  # 12 bytes would not fit: the first two go
    assert [payloads([b]) for b in closed] == [[b"aaaa", b"bbbb"]]
    assert raw.waiting == 1
    # One frame larger than the bound goes alone, at once, after what waited before it.
    closed = raw.add("c", "x", b"z" * 30, 4)
    assert [payloads([b]) for b in closed] == [[b"cccc"], [b"z" * 30]]


def test_connections_batch_apart_and_a_drain_closes_them_all() -> None:
    raw = RawBatcher("kraken", 60, clock=Clock())
    raw.add("public", "book", b"p1", 1)
    raw.add("private", "balances", b"q1", 2)
    raw.add("public", "trade", b"p2", 3)
    drained = raw.drain()
    assert {b.connection_id: payloads([b]) for b in drained} == {
        "public": [b"p1", b"p2"],
        "private": [b"q1"],
    }
    assert raw.drain() == []


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_age"):
        RawBatcher("kraken", -1)
    with pytest.raises(ValueError, match="max_frames"):
        RawBatcher("kraken", 1, max_frames=0)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.binary(max_size=40), st.floats(0, 0.3)),
        max_size=60,
    ),
    st.integers(1, 8),
    st.integers(1, 100),
)
def test_every_frame_comes_out_once_in_order_whatever_the_limits(
    frames: list[tuple[str, bytes, float]], max_frames: int, max_bytes: int
) -> None:
    clock = Clock()
    raw = RawBatcher("kraken", 0.5, max_frames=max_frames, max_bytes=max_bytes, clock=clock)
    out: list[RawFrames] = []
    for ts, (conn, payload, wait) in enumerate(frames):
        clock.now += wait
        out += raw.add(conn, "x", payload, ts)
        out += raw.due()
    out += raw.drain()
    for conn in ("a", "b"):
        sent = [(ts, p) for ts, (c, p, _w) in enumerate(frames) if c == conn]
        got = [(i.received_ts, i.payload) for b in out if b.connection_id == conn for i in b.frames]
        assert got == sent
    for batch in out:
        assert 1 <= len(batch.frames) <= max_frames
        size = sum(len(i.payload) for i in batch.frames)
        assert size <= max_bytes or len(batch.frames) == 1
