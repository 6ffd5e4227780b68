"""A real query API served by uvicorn on 127.0.0.1, inside the test's own event loop.

The server can be stopped and started again on the same port (stream reconnects), and it records
every HTTP path it served (the cache tests count requests there).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send
from pydantic import SecretStr

from marketdata.config import Settings
from query_api.app import create_app
from query_api.state import ApiState
from tests.unit.query_api.test_rest import settings


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner owns the signals
        yield


class LiveApi:
    """One `ApiState` served over real sockets; `stop()`/`start()` keep the port."""

    def __init__(self, api: ApiState) -> None:
        self.api = api
        self.paths: list[str] = []
        self.port = 0
        self._app = create_app(api)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            self.paths.append(scope["path"])
        await self._app(scope, receive, send)

    def served(self, prefix: str = "/api/") -> list[str]:
        return [p for p in self.paths if p.startswith(prefix)]

    async def start(self) -> None:
        config = uvicorn.Config(
            self._counting,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            interface="asgi3",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(5):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server, self._task = None, None


def secured_settings(key: str = "s3cret", rate_limit: int = 600) -> Settings:
    md = settings().market_data
    return Settings(
        md.model_copy(
            update={
                "signalr": md.signalr.model_copy(update={"enable_authentication": True}),
                "service": md.service.model_copy(
                    update={"api_keys": (SecretStr(key),), "rate_limit_per_minute": rate_limit}
                ),
            }
        )
    )
