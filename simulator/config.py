"""The simulator's own configuration, built by the CLI (from flags and `Settings.simulator`) or
directly by tests.

The API key and secret default to a documented, public test pair: the simulator holds no real
credential, but its private endpoints still verify signatures exactly as Kraken does, so a client
that works here signs correctly for the real exchange. The secret never appears in a repr or log.
"""

from __future__ import annotations

import base64
from typing import Literal

import msgspec

from simulator.faults import FaultSpec
from simulator.instruments import DEFAULT_SYMBOLS, instruments_for

DEFAULT_API_KEY = "crypton-simulator-kraken-key"
DEFAULT_API_SECRET = base64.b64encode(
    b"crypton-simulator: a public test secret, never a real credential."[:64]
).decode()
"""Base64 of 64 bytes, the shape of a real Kraken API secret."""

RateTier = Literal["starter", "intermediate", "pro"]


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the simulator needs to start; every field has a usable default."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 42
    events_per_second: float = 200.0
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    faults: tuple[str, ...] = ()
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    rate_tier: RateTier = "intermediate"
    token_ttl_seconds: float = 900.0
    heartbeat_seconds: float = 1.0
    max_depth: int = 1000
    balance_update_seconds: float = 10.0
    max_queued_frames: int = 100_000

    def __post_init__(self) -> None:
        instruments_for(list(self.symbols))
        for text in self.faults:
            FaultSpec.parse(text)
        if self.events_per_second < 0:
            raise ValueError("events_per_second must be >= 0")
        if self.max_depth not in (10, 25, 100, 500, 1000):
            raise ValueError("max_depth must be one of Kraken's book depths")
        base64.b64decode(self.api_secret, validate=True)

    def __repr__(self) -> str:
        shown = {f: getattr(self, f) for f in self.__struct_fields__ if f != "api_secret"}
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"SimulatorConfig({inner}, api_secret='**********')"

    __str__ = __repr__
