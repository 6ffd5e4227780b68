"""The interface every exchange adapter implements (MDS-002).

An adapter owns its venue's connections and wire format; past `run()` everything it emits is a
unified model handed to the publisher. The runner knows adapters only through this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from schemas.models import OHLCV, Balance


class ExchangeAdapter(Protocol):
    name: str

    async def run(self) -> None:
        """Connect, subscribe the configured symbols and publish until stopped or fatal."""
        ...

    async def stop(self) -> None: ...

    async def subscribe(self, symbol: str, channels: Sequence[str]) -> str | None:
        """Subscribe on the live connection; returns None, or why the request is rejected."""
        ...

    async def unsubscribe(self, symbol: str, channels: Sequence[str]) -> str | None: ...

    async def history(self, symbol: str, interval_minutes: int) -> list[OHLCV]:
        """Recent candles from REST (cache warming for candles and indicators)."""
        ...

    async def balances(self) -> list[Balance]:
        """Account balances from REST (private; the fallback when the private stream is down)."""
        ...

    @property
    def symbols(self) -> Sequence[str]:
        """The canonical symbols currently subscribed."""
        ...
