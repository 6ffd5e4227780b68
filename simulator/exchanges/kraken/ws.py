"""Kraken WS v2 over raw ASGI: `/v2` (ws.kraken.com/v2) and `/v2-auth` (ws-auth.kraken.com/v2).

The WebSocket side is plain ASGI rather than a Litestar handler because the faults need the
wire: a refused handshake answers an HTTP status, a `drop` aborts the TCP connection without a
close frame (the 1006 clients see when Cloudflare drops them), and truncated or non-JSON frames
are sent as they are. Each connection has a reader (this coroutine) and a writer task that drains
the connection's queue, so the market never waits on a client.
"""

from __future__ import annotations

import asyncio
import contextlib

from litestar.types import Receive, Scope, Send

from marketdata.logs import get_logger
from simulator.exchanges.kraken.connection import KrakenConnection
from simulator.exchanges.kraken.exchange import KrakenExchange

PUBLIC_PATH = "/v2"
PRIVATE_PATH = "/v2-auth"

log = get_logger("simulator.kraken.ws")


async def serve_websocket(
    exchange: KrakenExchange, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run one WebSocket connection from handshake to close."""
    path = scope["path"].rstrip("/") or "/"
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if path not in (PUBLIC_PATH, PRIVATE_PATH) or exchange.refuse_handshake():
        await _reject(scope, send, 404 if path not in (PUBLIC_PATH, PRIVATE_PATH) else 503)
        return
    await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
    conn = exchange.open_connection(private=path == PRIVATE_PATH)
    log.debug("ws.connected", connection=conn.id, private=conn.private)
    writer = asyncio.create_task(_write(conn, send), name=f"kraken-ws-writer-{conn.id}")
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                break
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            exchange.session.handle(conn, text, exchange.clock.now_ns())
    finally:
        exchange.close_connection(conn)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        log.debug("ws.disconnected", connection=conn.id)


async def _reject(scope: Scope, send: Send, status: int) -> None:
    """Refuse the handshake with an HTTP status when the server can (else uvicorn's 403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = b"Service Unavailable" if status == 503 else b"Not Found"
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1013, "reason": None})


async def _write(conn: KrakenConnection, send: Send) -> None:
    """Drain the connection's queue; carry out a requested close or abort."""
    try:
        while True:
            await conn.wakeup.wait()
            conn.wakeup.clear()
            while conn.queue:
                text = conn.queue.popleft()
                await send({"type": "websocket.send", "text": text, "bytes": None})
                conn.frames_sent += 1
            if conn.closing is not None:
                await _end(conn.closing.code, conn.closing.reason, send)
                return
    except OSError:  # the client went away while we wrote (uvicorn's ClientDisconnected)
        return


async def _end(code: int | None, reason: str, send: Send) -> None:
    """Close with `code`, or (None) drop the TCP connection without a close frame, as a proxy
    dropping it would.

    ASGI has no abort event; uvicorn's `send` is a bound method of its protocol object, which
    owns the transport. Without one, fall back to a 1011 close frame."""
    if code is None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if isinstance(transport, asyncio.Transport):
            transport.abort()
            return
        code, reason = 1011, "connection dropped"
    await send({"type": "websocket.close", "code": code, "reason": reason or None})
