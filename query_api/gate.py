"""The gate in front of REST: 503 while warming, then per-client request limits (a fixed
one-minute window per client address, O(1)). One plain ASGI middleware, because Litestar's guard
machinery and its rate-limit middleware each cost more per request than the request itself.

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


class Gate:
    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
        warming: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._app = app
        self._limit = limit
        self._warming = warming
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(EXEMPT):
            await self._app(scope, receive, send)
            return
        if scope["path"].startswith("/api/") and (why := self._warming()) is not None:
            await _problem(send, 503, "Service unavailable", why, [(b"retry-after", b"2")])
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
            detail = f"over {self._limit} requests per minute from this client; retry in {reset} s"
            extra = [(b"retry-after", str(reset).encode()), *headers]
            await _problem(send, 429, "Too many requests", detail, extra)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self._app(scope, receive, with_headers)


async def _problem(
    send: Send, status: int, title: str, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"status": status, "title": title, "detail": detail}).encode()
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)
