"""Serving the simulator: one ASGI app on one port, run by uvicorn.

Why this shape: one port (the configuration has one) carries everything a Kraken client needs —
WS v2 public at `/v2`, private at `/v2-auth`, REST at `/0/...` — plus the control API at `/_sim`.
HTTP goes to a Litestar app (routing, msgspec bodies, problem answers); WebSocket scopes go
straight to the venue's raw-ASGI gateway, because its faults need frame- and socket-level control
that a framework's WebSocket abstraction hides (see `exchanges/kraken/ws.py`).

`running_simulator()` starts it in-process on a free loopback port for tests and stops it cleanly;
`serve()` runs it until Ctrl-C for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterator

import msgspec
import uvicorn
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from simulator.client import SimulatorControl
from simulator.clock import Clock
from simulator.config import SimulatorConfig
from simulator.control import control_router
from simulator.exchanges.kraken.exchange import KrakenExchange
from simulator.exchanges.kraken.rest import kraken_rest_router
from simulator.exchanges.kraken.ws import PRIVATE_PATH, PUBLIC_PATH, serve_websocket


class SimulatorApp:
    """The ASGI application: WebSocket scopes to the venue gateway, the rest to Litestar."""

    def __init__(self, exchange: KrakenExchange, http: Litestar) -> None:
        self.exchange = exchange
        self.http = http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.WEBSOCKET:
            await serve_websocket(self.exchange, scope, receive, send)
        else:
            await self.http(scope, receive, send)


def create_simulator(
    config: SimulatorConfig | None = None, *, clock: Clock | None = None
) -> SimulatorApp:
    """Build the simulated Kraken for `config` (defaults: BTC/USD, ETH/USD, SOL/USD, seed 42)."""
    exchange = KrakenExchange(config or SimulatorConfig(), clock)
    http = Litestar(
        route_handlers=[kraken_rest_router(exchange), control_router(exchange)],
        on_startup=[exchange.start],
        on_shutdown=[exchange.stop],
        openapi_config=None,
        logging_config=None,
    )
    return SimulatorApp(exchange, http)


class SimulatorHandle(msgspec.Struct, frozen=True, kw_only=True):
    """A running simulator: where to point a Kraken client, and the control client."""

    host: str
    port: int
    app: SimulatorApp
    control: SimulatorControl

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{PUBLIC_PATH}"

    @property
    def ws_auth_url(self) -> str:
        return f"ws://{self.host}:{self.port}{PRIVATE_PATH}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def exchange(self) -> KrakenExchange:
        return self.app.exchange


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: a test process keeps its own Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _StoppableServer(uvicorn.Server):
    """uvicorn for the CLI: SIGINT or SIGTERM stops it gracefully and `serve()` returns, instead
    of uvicorn re-raising the signal afterwards (so a stop is exit status 0, not 130/143). A
    second SIGINT forces the exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, self._stop)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _stop(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def _uvicorn_config(app: SimulatorApp, config: SimulatorConfig) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        lifespan="on",
        ws="websockets-sansio",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )


async def _start(server: uvicorn.Server) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(), name="simulator-uvicorn")
    while not server.started:
        if task.done():
            with contextlib.suppress(SystemExit):
                await task
            raise RuntimeError("the simulator failed to start (is the port in use?)")
        await asyncio.sleep(0.01)
    return task


def _handle(server: uvicorn.Server, app: SimulatorApp, host: str) -> SimulatorHandle:
    port = server.servers[0].sockets[0].getsockname()[1]
    return SimulatorHandle(
        host=host, port=port, app=app, control=SimulatorControl(f"http://{host}:{port}")
    )


@contextlib.asynccontextmanager
async def running_simulator(
    config: SimulatorConfig | None = None, *, clock: Clock | None = None
) -> AsyncIterator[SimulatorHandle]:
    """Run the simulator in this event loop for the duration of the block (port 0 = free port).

    On exit every connection is closed and every task the simulator started has finished."""
    config = config or SimulatorConfig()
    app = create_simulator(config, clock=clock)
    server = _EmbeddedServer(_uvicorn_config(app, config))
    task = await _start(server)
    handle = _handle(server, app, config.host)
    try:
        yield handle
    finally:
        await handle.control.aclose()
        server.should_exit = True
        await task


async def serve(
    config: SimulatorConfig, *, on_ready: Callable[[SimulatorHandle], None] | None = None
) -> None:
    """Run until SIGINT/SIGTERM (uvicorn's handlers), calling `on_ready` once listening."""
    app = create_simulator(config)
    server = _StoppableServer(_uvicorn_config(app, config))
    task = await _start(server)
    handle = _handle(server, app, config.host)
    try:
        if on_ready is not None:
            on_ready(handle)
        await task
    finally:
        await handle.control.aclose()
