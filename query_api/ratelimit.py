"""Per-client request limits for REST: a fixed one-minute window per client address, O(1).

(Litestar's own rate-limit middleware keeps every request time of the window as a JSON list per
client and re-encodes it on every request: at a few hundred requests per client per minute that
costs more than the request itself.) Over the limit a client gets 429 problem+json with
`Retry-After`; every answer carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset`. Health, metrics, the schema and WebSockets are never limited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Final

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)

WINDOW_SECONDS: Final = 60
EXEMPT: Final = ("/health", "/metrics", "/schema")
_MAX_CLIENTS: Final = 100_000


class RateLimiter:
    def __init__(
        self, app: ASGIApp, limit: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._app = app
        self._limit = limit
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(EXEMPT):
            await self._app(scope, receive, send)
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        if window != self._window or len(self._counts) > _MAX_CLIENTS:
            self._window, self._counts = window, {}
        client = scope.get("client")
        key = client[0] if client else "?"
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        reset = int((window + 1) * WINDOW_SECONDS - now) + 1
        headers = [
            (b"ratelimit-limit", str(self._limit).encode()),
            (b"ratelimit-remaining", str(max(0, self._limit - count)).encode()),
            (b"ratelimit-reset", str(reset).encode()),
        ]
        if count > self._limit:
            await _too_many(send, headers, self._limit, reset)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self._app(scope, receive, with_headers)


async def _too_many(send: Send, headers: list[tuple[bytes, bytes]], limit: int, reset: int) -> None:
    body = json.dumps(
        {
            "status": 429,
            "title": "Too many requests",
            "detail": f"over {limit} requests per minute from this client; retry in {reset} s",
        }
    ).encode()
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(reset).encode()),
            *headers,
        ],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)
