"""Exchange frames into `RawFrames` records: the audit copy on md.raw.v1, batched per connection.

A record per frame made the audit copy the largest stream of the producer (at 1,000 events/s,
two raw records for every three records it wrote), each paying its Avro encoding, its Kafka
hand-over and the broker's work. A batch pays them once for up to `max_frames` frames.

A connection's batch closes when it is `max_age` old (checked as frames arrive and by the
owner's timer through `due`), when it holds `max_frames` frames or `max_bytes` bytes of payload,
and when the owner drains it (a disconnect, a stop). A frame that would take a batch past
`max_bytes` starts the next batch, so a batch is never larger than `max_bytes` unless one frame
alone is. `max_age` 0: every frame is a batch of its own, at once. Frames stay in the order they
were added. Pure: no I/O, no asyncio; the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.models import RawFrameItem, RawFrames

MAX_FRAMES = 1000
MAX_BYTES = 512 * 1024
"""Half of Kafka's default largest record (1 MB), headroom for the record around the payloads."""


@dataclass
class _Open:
    started: float
    frames: list[RawFrameItem] = field(default_factory=list)
    size: int = 0


class RawBatcher:
    def __init__(
        self,
        exchange: str,
        max_age: float,
        *,
        max_frames: int = MAX_FRAMES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_age < 0 or max_frames < 1 or max_bytes < 1:
            raise ValueError("max_age must be >= 0, max_frames and max_bytes >= 1")
        self.exchange = exchange
        self.max_age = max_age
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._clock = clock
        self._open: dict[str, _Open] = {}

    @property
    def waiting(self) -> int:
        """Frames in open batches."""
        return sum(len(batch.frames) for batch in self._open.values())

    def add(
        self, connection_id: str, channel: str, payload: bytes, received_ts: int
    ) -> list[RawFrames]:
        """Take a frame; return the batches this closed (oldest first, usually none)."""
        closed: list[RawFrames] = []
        now = self._clock()
        batch = self._open.get(connection_id)
        if batch is not None and batch.size + len(payload) > self.max_bytes:
            closed.append(self._close(connection_id))
            batch = None
        if batch is None:
            batch = self._open[connection_id] = _Open(now)
        batch.frames.append(RawFrameItem(channel, payload, received_ts))
        batch.size += len(payload)
        if (
            len(batch.frames) >= self.max_frames
            or batch.size >= self.max_bytes
            or now - batch.started >= self.max_age
        ):
            closed.append(self._close(connection_id))
        return closed

    def due(self) -> list[RawFrames]:
        """Close the batches that are `max_age` old."""
        now = self._clock()
        old = [cid for cid, batch in self._open.items() if now - batch.started >= self.max_age]
        return [self._close(cid) for cid in old]

    def drain(self) -> list[RawFrames]:
        """Close every open batch."""
        return [self._close(cid) for cid in list(self._open)]

    def _close(self, connection_id: str) -> RawFrames:
        batch = self._open.pop(connection_id)
        return RawFrames(exchange=self.exchange, connection_id=connection_id, frames=batch.frames)
