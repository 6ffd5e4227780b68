"""A typed client for the control API, for tests and benchmarks (in-process or not)."""

from __future__ import annotations

from types import TracebackType

import httpx
import msgspec

from simulator.faults import FaultsSnapshot
from simulator.state import BookTruth, SimState


class SimulatorControl:
    """`await control.inject("stall:3")`, `await control.state()`, `await control.book(...)`."""

    def __init__(self, rest_url: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=rest_url.rstrip("/") + "/_sim", timeout=timeout)

    async def __aenter__(self) -> SimulatorControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: object = None) -> bytes:
        response = await self._http.post(path, content=msgspec.json.encode(body) if body else None)
        response.raise_for_status()
        return response.content

    async def state(self) -> SimState:
        response = await self._http.get("/state")
        response.raise_for_status()
        return msgspec.json.decode(response.content, type=SimState)

    async def inject(self, fault: str) -> FaultsSnapshot:
        """Arm a fault as on the CLI: `drop`, `stall:3`, `corrupt_checksum:BTC/USD`..."""
        content = await self._post("/faults", {"fault": fault})
        return msgspec.json.decode(content, type=FaultsSnapshot)

    async def book(self, symbol: str, depth: int = 10) -> BookTruth:
        response = await self._http.get(
            f"/book/{symbol.replace('/', '-')}", params={"depth": depth}
        )
        response.raise_for_status()
        return msgspec.json.decode(response.content, type=BookTruth)

    async def pause(self) -> SimState:
        return msgspec.json.decode(await self._post("/pause"), type=SimState)

    async def resume(self) -> SimState:
        return msgspec.json.decode(await self._post("/resume"), type=SimState)

    async def set_rate(self, events_per_second: float) -> SimState:
        content = await self._post("/rate", {"events_per_second": events_per_second})
        return msgspec.json.decode(content, type=SimState)

    async def credit(self, asset: str, amount: float) -> SimState:
        content = await self._post("/ledger", {"asset": asset, "amount": amount})
        return msgspec.json.decode(content, type=SimState)

    async def expire_tokens(self) -> SimState:
        return msgspec.json.decode(await self._post("/tokens/expire"), type=SimState)
