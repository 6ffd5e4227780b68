"""Fixtures for the SDK tests: the real API over real sockets, with a read model filled by hand
(`tests.unit.query_api.test_rest.filled`), a dead address and a server that never answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from query_api.state import ApiState
from tests.unit.clients.live_api import LiveApi
from tests.unit.query_api.test_rest import NOW, filled, settings


@pytest.fixture
def api() -> ApiState:
    return filled(ApiState(settings(), always_ready=True, clock=lambda: NOW))


@pytest.fixture
async def live(api: ApiState) -> AsyncIterator[LiveApi]:
    server = LiveApi(api)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def dead_url() -> str:
    """An address on loopback where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """A server that accepts connections and never answers (a hung API)."""
    release = asyncio.Event()

    async def hang(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        server.close()
        await server.wait_closed()
