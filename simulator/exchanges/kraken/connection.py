"""One client's WebSocket session as the feed sees it: its subscriptions and outbound queue.

The feed never awaits a client. It appends encoded frames to the connection's queue and a writer
task per connection (in `ws.py`) drains it, so one slow client cannot hold up the market or the
others; a client whose queue outgrows the bound is closed instead of buffering without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque

import msgspec

from simulator.exchanges.kraken.requests import Subscription

SLOW_CONSUMER_CODE = 1008


class CloseRequest(msgspec.Struct, frozen=True):
    """How the writer must end the connection: code None = abort the TCP connection (1006)."""

    code: int | None
    reason: str = ""


class KrakenConnection:
    """Subscriptions and pending frames of one client."""

    def __init__(self, conn_id: int, *, private: bool, max_queued: int) -> None:
        self.id = conn_id
        self.private = private
        self.max_queued = max_queued
        self.subscriptions: dict[tuple[str, ...], Subscription] = {}
        self.queue: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.closing: CloseRequest | None = None
        self.truncate_next = False
        self.last_sent_ns = 0
        self.balances_sequence = 0
        self.frames_sent = 0

    def push(self, text: str, now_ns: int) -> None:
        if self.closing is not None:
            return
        if self.truncate_next:
            self.truncate_next = False
            text = text[: max(1, len(text) // 2)]
        self.queue.append(text)
        self.last_sent_ns = now_ns
        if len(self.queue) > self.max_queued:
            self.queue.clear()
            self.close(SLOW_CONSUMER_CODE, "slow consumer: outbound queue overflow")
            return
        self.wakeup.set()

    def close(self, code: int | None, reason: str = "") -> None:
        """Ask the writer to end the connection (after nothing else: pending frames are lost)."""
        if self.closing is None:
            self.closing = CloseRequest(code, reason)
            self.queue.clear()
        self.wakeup.set()

    def next_sequence(self) -> int:
        self.balances_sequence += 1
        return self.balances_sequence
