"""Payloads of the control API (`/_sim/*`), shared by the server and the test client."""

from __future__ import annotations

import msgspec

from simulator.faults import FaultsSnapshot


class SimState(msgspec.Struct, kw_only=True):
    """Counters a test reads to prove what its client met."""

    exchange: str
    uptime_seconds: float
    paused: bool
    events: int
    events_per_second_target: float
    events_per_second_achieved: float
    connections_open: int
    connections_private: int
    connections_accepted: int
    connections_refused: int
    subscriptions: int
    frames_sent: int
    book_updates: int
    rest_calls: int
    rest_errors: dict[str, int]
    faults: FaultsSnapshot


class BookTruth(msgspec.Struct, kw_only=True):
    """The simulator's true top-N book, to compare with a client's reconstruction."""

    symbol: str
    depth: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    checksum: int
    timestamp: str


class FaultRequest(msgspec.Struct, kw_only=True):
    """`POST /_sim/faults`: one fault as on the CLI (`stall:3`, `corrupt_checksum:BTC/USD`)."""

    fault: str


class LedgerRequest(msgspec.Struct, kw_only=True):
    """`POST /_sim/ledger`: credit (or, negative, debit) the simulated account now."""

    asset: str
    amount: float


class RateRequest(msgspec.Struct, kw_only=True):
    """`POST /_sim/rate`: change the target event rate while running."""

    events_per_second: float
