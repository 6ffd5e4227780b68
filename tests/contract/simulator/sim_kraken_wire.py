"""A deliberately small Kraken WS v2 / REST client for the simulator's contract tests.

It does what a correct client must (apply book levels in order, truncate to the subscribed
depth, verify the CRC32 from the instrument's precisions, sign private calls) using the code
base's shared checksum and signing functions, so the tests check the simulator's wire output the
way the producer will consume it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection

from producers.exchanges.kraken.auth import api_sign
from producers.exchanges.kraken.checksum import book_checksum, format_decimal
from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET

Frame = dict[str, Any]


def loads(text: str | bytes) -> Frame:
    frame = json.loads(text, parse_float=Decimal)
    assert isinstance(frame, dict)
    return frame


async def recv(ws: ClientConnection, timeout: float = 5.0) -> Frame:
    return loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(
    ws: ClientConnection, predicate: Callable[[Frame], bool], timeout: float = 5.0
) -> Frame:
    """The first frame matching `predicate` (frames before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv(ws, max(0.01, deadline - time.monotonic()))
        if predicate(frame):
            return frame


async def send(ws: ClientConnection, method: str, req_id: int | None = None, **params: Any) -> None:
    message: Frame = {"method": method}
    if params:
        message["params"] = params
    if req_id is not None:
        message["req_id"] = req_id
    await ws.send(json.dumps(message))


def is_ack(frame: Frame) -> bool:
    return frame.get("method") in ("subscribe", "unsubscribe")


def channel(name: str, kind: str | None = None) -> Callable[[Frame], bool]:
    return lambda f: f.get("channel") == name and (kind is None or f.get("type") == kind)


async def precisions(ws: ClientConnection) -> dict[str, tuple[int, int]]:
    """Price and qty precision per symbol, from the `instrument` channel, as a client gets them."""
    await send(ws, "subscribe", channel="instrument")
    snapshot = await recv_until(ws, channel("instrument", "snapshot"))
    return {
        p["symbol"]: (p["price_precision"], p["qty_precision"]) for p in snapshot["data"]["pairs"]
    }


class WireBook:
    """One symbol's book as a Kraken client keeps it."""

    def __init__(self, depth: int, price_precision: int, qty_precision: int) -> None:
        self.depth = depth
        self.pp, self.qp = price_precision, qty_precision
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.verified = 0
        self.mismatches = 0

    def apply(self, data: Frame, *, snapshot: bool) -> bool:
        """Apply one `data` entry; return whether its checksum matched."""
        if snapshot:
            self.bids, self.asks = {}, {}
        for levels, side in ((data["bids"], self.bids), (data["asks"], self.asks)):
            for level in levels:
                if level["qty"] == 0:
                    side.pop(level["price"], None)
                else:
                    side[level["price"]] = level["qty"]
        for price in sorted(self.bids, reverse=True)[self.depth :]:
            del self.bids[price]
        for price in sorted(self.asks)[self.depth :]:
            del self.asks[price]
        ok = self.checksum() == data["checksum"]
        self.verified += ok
        self.mismatches += not ok
        return ok

    def _text(self, levels: list[tuple[Decimal, Decimal]]) -> list[tuple[str, str]]:
        return [
            (format_decimal(float(p), self.pp), format_decimal(float(q), self.qp))
            for p, q in levels
        ]

    def checksum(self) -> int:
        asks = sorted(self.asks.items())[:10]
        bids = sorted(self.bids.items(), reverse=True)[:10]
        return book_checksum(self._text(asks), self._text(bids))

    def top(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids = [(float(p), float(q)) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [(float(p), float(q)) for p, q in sorted(self.asks.items())]
        return bids, asks


class Signer:
    """Signs private REST calls as Kraken requires, with strictly increasing nonces."""

    def __init__(self, key: str = DEFAULT_API_KEY, secret: str = DEFAULT_API_SECRET) -> None:
        self.key, self.secret = key, secret
        self.nonce = time.time_ns() // 1000

    def next_nonce(self) -> int:
        self.nonce += 1
        return self.nonce

    def form(
        self, method: str, nonce: int | None = None, **params: str
    ) -> tuple[dict[str, str], str]:
        nonce = self.next_nonce() if nonce is None else nonce
        body = urlencode({"nonce": nonce, **params})
        path = f"/0/private/{method}"
        headers = {
            "API-Key": self.key,
            "API-Sign": api_sign(path, nonce, body, self.secret),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        }
        return headers, body
