"""Fault injection: what can go wrong between an exchange and a client, on demand.

Faults are armed from the CLI (`--fault NAME[:PARAM][@EVERY]`, repeated) or by
`POST /_sim/faults`, and counted so a test can assert that its client really met them. This module
is pure bookkeeping (time is passed in); the WebSocket and REST layers ask it what to do.

Each fault, its parameter (default) and what counts as it having fired:
- `drop[:CODE]`: every WS connection dies; without a code the TCP connection is aborted with no
  close frame (clients see 1006), with one a close frame carries it (1001 = Cloudflare restart).
  Fired once per connection.
- `stall[:SECONDS]` (5): nothing at all is sent on any WS connection, heartbeats and pongs
  included, without closing; frames produced meanwhile are lost. Fired once per withheld frame.
- `malformed`: one non-JSON text frame on every WS connection. Once per connection.
- `truncated`: the next frame of every WS connection is cut in half. Once per connection.
- `oversized[:MB]` (4): one frame of that many megabytes on every WS connection. Per connection.
- `corrupt_checksum[:SYMBOL]` (any): the next book update of SYMBOL carries a wrong checksum.
  Fired once per subscriber that receives it; `skip_book_update[:SYMBOL]` never sends that
  update; `duplicate_trade[:SYMBOL]` sends the next trade frame twice.
- `rate_limit[:CALLS]` (1): the next REST calls answer `EAPI:Rate limit exceeded` with HTTP 200,
  as Kraken does; `http429[:CALLS]` answers HTTP 429 instead. Once per call.
- `refuse[:SECONDS]` (5): new WS handshakes are rejected (HTTP 503). Once per handshake.

Connection faults armed while no client is subscribed wait for the first subscription, so a fault
given on the command line hits the first client instead of nobody. `@EVERY` re-arms the fault every
EVERY seconds (chaos runs under `make run`).
"""

from __future__ import annotations

from collections import deque
from typing import Literal, get_args

import msgspec

from simulator.clock import NS_PER_S

FaultName = Literal[
    "drop",
    "stall",
    "malformed",
    "truncated",
    "oversized",
    "corrupt_checksum",
    "skip_book_update",
    "duplicate_trade",
    "rate_limit",
    "http429",
    "refuse",
]
FAULT_NAMES: tuple[str, ...] = get_args(FaultName)
CONNECTION_FAULTS = frozenset({"drop", "malformed", "truncated", "oversized"})
BookFault = Literal["corrupt_checksum", "skip_book_update"]
RestFault = Literal["rate_limit", "http429"]

_NUMERIC = frozenset({"stall", "oversized", "rate_limit", "http429", "refuse", "drop"})
_SYMBOLIC = frozenset({"corrupt_checksum", "skip_book_update", "duplicate_trade"})


class FaultError(ValueError):
    """A fault specification that cannot be armed; the message says why."""


class FaultSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One fault as given: name, optional parameter and optional repeat period (seconds)."""

    name: FaultName
    param: str | None = None
    every: float | None = None

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse `NAME[:PARAM][@EVERY]`, e.g. `stall:3`, `corrupt_checksum:BTC/USD`, `drop@30`."""
        body, _, every_text = text.strip().partition("@")
        name, _, param = body.partition(":")
        if name not in FAULT_NAMES:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
        every: float | None = None
        if every_text:
            every = _positive(every_text, f"repeat period of {name}")
        spec = cls(name=name, param=param or None, every=every)  # type: ignore[arg-type]
        if name in _NUMERIC:
            spec.number(0.0)  # validate numeric parameters now, not when the fault fires
        elif name not in _SYMBOLIC and spec.param is not None:
            raise FaultError(f"fault {name} takes no parameter")
        return spec

    def number(self, default: float) -> float:
        """The numeric parameter (seconds, calls, megabytes, close code), or `default`."""
        if self.param is None:
            return default
        if self.name not in _NUMERIC:
            raise FaultError(f"fault {self.name} takes a symbol, not a number")
        return _positive(self.param, f"parameter of {self.name}")

    def __str__(self) -> str:
        text = self.name + (f":{self.param}" if self.param else "")
        return text + (f"@{self.every:g}" if self.every else "")


def _positive(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultError(f"{what} must be a number, got {text!r}") from None
    if value <= 0:
        raise FaultError(f"{what} must be positive, got {text!r}")
    return value


class FaultCount(msgspec.Struct, kw_only=True):
    """How often a fault was armed and how often it acted on a client."""

    armed: int = 0
    fired: int = 0


class FaultsSnapshot(msgspec.Struct, kw_only=True):
    """What `/_sim/state` reports about faults."""

    counts: dict[str, FaultCount]
    pending: list[str]
    stalled: bool
    refusing: bool
    rest_faults_left: int


class FaultState:
    """Armed faults and their counters."""

    def __init__(self) -> None:
        self.counts: dict[str, FaultCount] = {name: FaultCount() for name in FAULT_NAMES}
        self._connection: list[FaultSpec] = []
        self._book: list[tuple[BookFault, str | None]] = []
        self._trade_dupes: list[str | None] = []
        self._rest: deque[RestFault] = deque()
        self._repeat: list[tuple[FaultSpec, int]] = []
        self.stalled_until_ns = 0
        self.refusing_until_ns = 0

    def arm(self, spec: FaultSpec, now_ns: int) -> None:
        """Arm `spec` now (and schedule its repeats)."""
        self.counts[spec.name].armed += 1
        name = spec.name
        if name in CONNECTION_FAULTS:
            self._connection.append(spec)
        elif name == "stall":
            self.stalled_until_ns = max(self.stalled_until_ns, now_ns + _ns(spec.number(5.0)))
        elif name == "refuse":
            self.refusing_until_ns = max(self.refusing_until_ns, now_ns + _ns(spec.number(5.0)))
        elif name in ("rate_limit", "http429"):
            self._rest.extend([name] * int(spec.number(1.0)))
        elif name == "duplicate_trade":
            self._trade_dupes.append(spec.param)
        else:
            self._book.append((name, spec.param))  # type: ignore[arg-type]
        if spec.every and not any(s is spec for s, _ in self._repeat):
            self._repeat.append((spec, now_ns + _ns(spec.every)))

    def rearm_due(self, now_ns: int) -> None:
        """Re-arm repeating faults whose period has elapsed."""
        for index, (spec, due) in enumerate(self._repeat):
            if now_ns >= due:
                self._repeat[index] = (spec, now_ns + _ns(spec.every or 0.0))
                self.arm(spec, now_ns)

    def is_stalled(self, now_ns: int) -> bool:
        return now_ns < self.stalled_until_ns

    def withheld(self, frames: int = 1) -> None:
        self.counts["stall"].fired += frames

    def refuse_handshake(self, now_ns: int) -> bool:
        """Whether a new WS handshake must be refused now (counted when it is)."""
        if now_ns < self.refusing_until_ns:
            self.counts["refuse"].fired += 1
            return True
        return False

    def take_rest_fault(self) -> RestFault | None:
        """The fault the next REST call must answer with, if any (counted)."""
        if not self._rest:
            return None
        fault = self._rest.popleft()
        self.counts[fault].fired += 1
        return fault

    def take_connection_faults(self) -> list[FaultSpec]:
        """Connection faults to apply now; the caller calls this only when a client is there."""
        taken, self._connection = self._connection, []
        return taken

    def take_book_fault(self, symbol: str) -> BookFault | None:
        """A fault for the next book update of `symbol`, if one is armed (not yet counted)."""
        for index, (fault, target) in enumerate(self._book):
            if target is None or target == symbol:
                del self._book[index]
                return fault
        return None

    def take_trade_duplicate(self, symbol: str) -> bool:
        for index, target in enumerate(self._trade_dupes):
            if target is None or target == symbol:
                del self._trade_dupes[index]
                return True
        return False

    def fired(self, name: FaultName, times: int = 1) -> None:
        self.counts[name].fired += times

    def snapshot(self, now_ns: int) -> FaultsSnapshot:
        pending = [str(s) for s in self._connection]
        pending += [f"{f}:{t}" if t else f for f, t in self._book]
        pending += [f"duplicate_trade:{t}" if t else "duplicate_trade" for t in self._trade_dupes]
        return FaultsSnapshot(
            counts={k: FaultCount(armed=v.armed, fired=v.fired) for k, v in self.counts.items()},
            pending=pending,
            stalled=self.is_stalled(now_ns),
            refusing=now_ns < self.refusing_until_ns,
            rest_faults_left=len(self._rest),
        )


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)
