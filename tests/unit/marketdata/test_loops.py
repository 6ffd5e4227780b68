"""Our asyncio processes run on uvloop where it is installed (a dependency on Linux)."""

from __future__ import annotations

import asyncio

import uvloop
from litestar import Litestar

from marketdata.loops import loop_factory, uvicorn_loop
from query_api.app import server_config


def test_uvloop_runs_the_loop_where_it_is_installed() -> None:
    factory = loop_factory()
    assert factory is uvloop.new_event_loop
    assert uvicorn_loop() == "uvloop"

    async def which() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    assert asyncio.run(which(), loop_factory=factory) is uvloop.Loop


def test_the_api_is_served_as_benchmarked() -> None:
    """uvloop, uvicorn's sans-I/O WebSocket protocol, no WebSocket pings (SignalR pings in its
    own protocol), no compression (it would undo encoding each update once for all clients)."""
    config = server_config(Litestar(), port=1234)
    assert (config.loop, config.ws, config.ws_ping_interval, config.ws_per_message_deflate) == (
        "uvloop",
        "websockets-sansio",
        None,
        False,
    )
    assert config.port == 1234
