"""The control API under `/_sim`, for tests and operators: state, faults, the true book, pause.

- `GET /_sim/state`: `SimState` (counters, achieved event rate, fault counts).
- `POST /_sim/faults` `{"fault": "stall:3"}`: arm a fault; answers the faults' state.
- `GET /_sim/book/{symbol}?depth=10`: `BookTruth`, the true top-N book; the symbol as `BTC/USD`,
  `BTC%2FUSD`, `BTC-USD`, `BTC_USD` or `BTCUSD`.
- `POST /_sim/pause`, `POST /_sim/resume`: freeze or restart the market (heartbeats go on).
- `POST /_sim/rate` `{"events_per_second": 500}`: change the target event rate.
- `POST /_sim/ledger` `{"asset": "BTC", "amount": 0.5}`: a deposit (negative: withdrawal), sent
  to `balances` subscribers.
- `POST /_sim/tokens/expire`: WS tokens not held by a live subscription stop working.

Bad input answers 400 with a message naming the problem.
"""

from __future__ import annotations

from typing import Protocol

from litestar import Router, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody

from simulator.faults import FaultError, FaultSpec, FaultsSnapshot
from simulator.state import BookTruth, FaultRequest, LedgerRequest, RateRequest, SimState

BOOK_DEPTHS = (10, 25, 100, 500, 1000)


class SimulatedExchange(Protocol):
    """What the control API needs from a simulated venue."""

    @property
    def symbols(self) -> list[str]: ...

    def state(self) -> SimState: ...

    def inject(self, spec: FaultSpec) -> None: ...

    def book_truth(self, symbol: str, depth: int) -> BookTruth: ...

    def set_paused(self, paused: bool) -> None: ...

    def set_rate(self, events_per_second: float) -> None: ...

    def credit(self, asset: str, amount: float) -> None: ...

    def expire_tokens(self) -> None: ...


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


def control_router(exchange: SimulatedExchange) -> Router:
    """The `/_sim` routes operating on `exchange`."""

    @get("/state")
    async def state() -> SimState:
        return exchange.state()

    @post("/faults", status_code=200)
    async def faults(data: JSONBody[FaultRequest]) -> FaultsSnapshot:
        try:
            spec = FaultSpec.parse(data.fault)
        except FaultError as exc:
            raise _bad(str(exc)) from None
        symbol_faults = ("corrupt_checksum", "skip_book_update", "duplicate_trade")
        if spec.name in symbol_faults and spec.param and spec.param not in exchange.symbols:
            raise _bad(f"fault {spec.name}: unknown symbol {spec.param}")
        exchange.inject(spec)
        return exchange.state().faults

    @get("/book/{symbol:path}")
    async def book(symbol: FromPath[str], depth: FromQuery[int] = 10) -> BookTruth:
        wanted = symbol.strip("/").upper().replace("-", "/").replace("_", "/")
        if "/" not in wanted:
            wanted = next((s for s in exchange.symbols if s.replace("/", "") == wanted), wanted)
        if wanted not in exchange.symbols:
            served = ", ".join(exchange.symbols)
            raise NotFoundException(f"unknown symbol {symbol.strip('/')}; served: {served}")
        if depth not in BOOK_DEPTHS:
            raise _bad(f"depth must be one of {BOOK_DEPTHS}")
        return exchange.book_truth(wanted, depth)

    @post("/pause", status_code=200)
    async def pause() -> SimState:
        exchange.set_paused(True)
        return exchange.state()

    @post("/resume", status_code=200)
    async def resume() -> SimState:
        exchange.set_paused(False)
        return exchange.state()

    @post("/rate", status_code=200)
    async def rate(data: JSONBody[RateRequest]) -> SimState:
        try:
            exchange.set_rate(data.events_per_second)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return exchange.state()

    @post("/ledger", status_code=200)
    async def ledger(data: JSONBody[LedgerRequest]) -> SimState:
        try:
            exchange.credit(data.asset, data.amount)
        except (KeyError, ValueError) as exc:
            raise _bad(str(exc)) from None
        return exchange.state()

    @post("/tokens/expire", status_code=200)
    async def expire() -> SimState:
        exchange.expire_tokens()
        return exchange.state()

    return Router(
        path="/_sim", route_handlers=[state, faults, book, pause, resume, rate, ledger, expire]
    )
