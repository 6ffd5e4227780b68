"""`create_app`: the Litestar application over an `ApiState` (built in `main()` or by a test).

REST under `/api` (503 problem+json until the read model has caught up), `/ws` (the JSON or
MessagePack relay), the SignalR-compatible hub at `signalr.hubPath`, `/health/live`,
`/health/ready`, `/metrics` and OpenAPI at `/schema`. The lifespan runs the Kafka feed when the
state has one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.types import ASGIApp

from marketdata import __version__
from marketdata.logs import get_logger
from marketdata.loops import uvicorn_loop
from query_api.controllers.account import AccountController
from query_api.controllers.market import MarketController
from query_api.controllers.system import SystemController
from query_api.dashboard import STATIC_DIR, dashboard_router
from query_api.gate import Gate
from query_api.metrics import register_fanout
from query_api.state import ApiState
from query_api.ws.endpoints import hub_handlers, relay_handler

log = get_logger("query_api")


def server_config(app: ASGIApp, **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration `marketdata api` serves with (the benchmarks use it too, so they
    measure the same server); `extra`: host, port, backlog and the like."""
    return uvicorn.Config(
        app,
        loop=uvicorn_loop(),
        ws="websockets-sansio",  # uvicorn's sans-I/O protocol: less CPU per frame (benchmarks.md)
        ws_ping_interval=None,  # SignalR pings in its protocol; signalrcore chokes on WS pings
        ws_per_message_deflate=False,  # compression per client would undo "encode once"
        log_level="warning",
        access_log=False,
        lifespan="on",
        **extra,
    )


def create_app(api: ApiState) -> Litestar:
    def provide_api() -> ApiState:
        return api

    def warming() -> str | None:
        if api.ready:
            return None
        behind = api.feed.progress.behind if api.feed is not None else 0
        return f"warming up: {behind} records still to read from Kafka"

    @contextlib.asynccontextmanager
    async def feed_running(_: Litestar) -> AsyncIterator[None]:
        task = None
        start = getattr(api.control, "start", None)
        if start is not None:
            await start()
        if api.feed is not None:
            task = asyncio.create_task(api.feed.run(), name="read-model-feed")
        try:
            yield
        finally:
            await api.hub.stop()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            stop = getattr(api.control, "stop", None)
            if stop is not None:
                await stop()

    register_fanout(api.registry, api.hub)
    limit = api.settings.service.rate_limit_per_minute

    def gate(app: ASGIApp) -> ASGIApp:
        return Gate(app, limit, warming=warming)

    return Litestar(
        route_handlers=[
            MarketController,
            AccountController,
            SystemController,
            relay_handler(api),
            *hub_handlers(api),
            dashboard_router(STATIC_DIR),  # last: the dashboard's static files at /
        ],
        dependencies={"api": Provide(provide_api, sync_to_thread=False)},
        middleware=[gate],
        lifespan=[feed_running],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True))],
        openapi_config=OpenAPIConfig(
            title="crypton-marketdata query API",
            version=__version__,
            path="/schema",
            description="Real-time crypto market data: prices, books, candles, indicators, "
            "balances, positions and feed status. Every answer carries the data's time, its age "
            "and a stale flag.",
        ),
    )
