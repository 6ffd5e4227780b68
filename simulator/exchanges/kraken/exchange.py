"""The simulated Kraken: market model, account, auth, faults and subscribers in one place, and the
pacing loop that steps the market at the configured rate.

Pacing: every few milliseconds the loop works out how many events are due at the target rate
since the previous tick, steps the model that many times stamped with the time of sending, and
publishes each event. It sleeps between ticks (never busy-waits); when it falls more
than a tick behind, the backlog is dropped rather than replayed in a burst, so the achieved rate
(measured over the last two seconds and reported in `/_sim/state`) shows what the machine can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque

from marketdata.logs import get_logger
from simulator.account import Account
from simulator.clock import NS_PER_S, Clock, WallClock
from simulator.config import SimulatorConfig
from simulator.exchanges.kraken import render
from simulator.exchanges.kraken.auth import PrivateAuth, TokenStore
from simulator.exchanges.kraken.connection import KrakenConnection
from simulator.exchanges.kraken.frames import KrakenStatusData, KrakenStatusFrame, encode, rfc3339
from simulator.exchanges.kraken.hub import KrakenHub
from simulator.exchanges.kraken.instruments import KrakenCatalog
from simulator.exchanges.kraken.session import KrakenSession
from simulator.faults import FaultSpec, FaultState
from simulator.instruments import assets_for
from simulator.market import MarketModel
from simulator.state import BookTruth, SimState

TICK_SECONDS = 0.005
_MAX_BACKLOG_TICKS = 20
_HEARTBEAT_CHECK_NS = NS_PER_S // 10
_MALFORMED = "<html><body><h1>502 Bad Gateway</h1></body></html>"
_CLOSE_REASONS = {1001: "CloudFlare WebSocket proxy restarting"}
_API_VERSION, _ENGINE_VERSION = "v2", "2.0.10"

log = get_logger("simulator.kraken")


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_ns: int = 2 * NS_PER_S) -> None:
        self.window_ns = window_ns
        self._samples: deque[tuple[int, int]] = deque()

    def record(self, now_ns: int, total: int) -> None:
        self._samples.append((now_ns, total))
        while len(self._samples) > 2 and now_ns - self._samples[1][0] >= self.window_ns:
            self._samples.popleft()

    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) * NS_PER_S / (t1 - t0) if t1 > t0 else 0.0


class KrakenExchange:
    """Everything the Kraken endpoints serve, and the loop that moves the market."""

    name = "kraken"

    def __init__(self, config: SimulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or WallClock()
        self.model = MarketModel(
            config.symbols, seed=config.seed, clock=self.clock, max_depth=config.max_depth
        )
        specs = list(self.model.instruments.values())
        self.catalog = KrakenCatalog(specs)
        self.account = Account(assets_for(specs), seed=config.seed + 1)
        self.faults = FaultState()
        now = self.clock.now_ns()
        for text in config.faults:
            self.faults.arm(FaultSpec.parse(text), now)
        self.tokens = TokenStore(config.token_ttl_seconds)
        self.auth = PrivateAuth(config.api_key, config.api_secret, config.rate_tier)
        self.hub = KrakenHub(
            model=self.model,
            catalog=self.catalog,
            account=self.account,
            faults=self.faults,
            clock=self.clock,
        )
        self.session = KrakenSession(self.hub, self.tokens)
        self.events_per_second = config.events_per_second
        self.paused = False
        self.started_ns = now
        self.accepted = 0
        self.refused = 0
        self.rest_calls = 0
        self.rest_errors: dict[str, int] = {}
        self.meter = RateMeter()
        self._ids = random.Random(config.seed + 2)  # noqa: S311 - reproducible, not secret
        self._events_at_start = self.model.events
        self._last_tick_ns = now
        self._carry = 0.0
        self._next_heartbeat_ns = now
        self._next_ledger_ns = now + self._ledger_period_ns()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._last_tick_ns = self.clock.now_ns()
        self._task = asyncio.create_task(self._run(), name="kraken-sim-pacer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn in list(self.hub.connections.values()):
            conn.close(1001, "simulator shutting down")

    async def _run(self) -> None:
        while True:
            began = self.clock.now_ns()
            self.tick(began)
            self.housekeeping(began)
            spent = (self.clock.now_ns() - began) / NS_PER_S
            await asyncio.sleep(max(0.001, TICK_SECONDS - spent))

    # -- the market ----------------------------------------------------------------------------

    @property
    def events(self) -> int:
        return self.model.events - self._events_at_start

    def tick(self, now_ns: int) -> int:
        """Step and publish the events due since the previous tick; return how many."""
        elapsed = now_ns - self._last_tick_ns
        if elapsed <= 0:
            return 0
        self._last_tick_ns = now_ns
        if self.paused or self.events_per_second <= 0:
            self._carry = 0.0
            return 0
        due = self.events_per_second * elapsed / NS_PER_S + self._carry
        count = int(due)
        self._carry = due - count
        limit = max(1, int(self.events_per_second * TICK_SECONDS * _MAX_BACKLOG_TICKS))
        if count > limit:
            count, self._carry = limit, 0.0
        # Every event of a tick carries the time it is sent, as a real venue's do: stamping
        # them earlier (spread over the tick) would charge the simulator's own pacing to the
        # latency a client measures from the event time.
        model, hub = self.model, self.hub
        for _ in range(count):
            hub.publish(model.step(now_ns))
        return count

    def housekeeping(self, now_ns: int) -> None:
        self.meter.record(now_ns, self.events)
        self.faults.rearm_due(now_ns)
        if any(c.subscriptions for c in self.hub.connections.values()):
            self._apply_connection_faults()
        if now_ns >= self._next_heartbeat_ns:
            self._next_heartbeat_ns = now_ns + _HEARTBEAT_CHECK_NS
            self.hub.heartbeat(now_ns, round(self.config.heartbeat_seconds * NS_PER_S))
        if now_ns >= self._next_ledger_ns and not self.paused:
            self._next_ledger_ns = now_ns + self._ledger_period_ns()
            spec = self.model.spec(self._ids.choice(self.model.symbols))
            price = self.model.ticker(spec.symbol).last / 10**spec.price_precision
            self.hub.publish_ledger(self.account.trade(spec, price, now_ns))

    def _ledger_period_ns(self) -> int:
        seconds = self.config.balance_update_seconds
        return round(seconds * NS_PER_S) if seconds > 0 else 2**62

    # -- connections ---------------------------------------------------------------------------

    def open_connection(self, *, private: bool) -> KrakenConnection:
        """Register a new client and queue the `status` frame Kraken sends on connect."""
        self.accepted += 1
        limit = self.config.max_queued_frames
        conn = KrakenConnection(self.accepted, private=private, max_queued=limit)
        self.hub.attach(conn)
        status = KrakenStatusData(
            api_version=_API_VERSION,
            connection_id=self._ids.getrandbits(64),
            system="online",
            version=_ENGINE_VERSION,
        )
        self.hub.send(conn, encode(KrakenStatusFrame(data=[status])))
        return conn

    def close_connection(self, conn: KrakenConnection) -> None:
        self.session.close(conn)

    def refuse_handshake(self) -> bool:
        if self.faults.refuse_handshake(self.clock.now_ns()):
            self.refused += 1
            return True
        return False

    def _apply_connection_faults(self) -> None:
        for spec in self.faults.take_connection_faults():
            targets = list(self.hub.connections.values())
            for conn in targets:
                if spec.name == "drop":
                    code = int(spec.number(0.0)) or None
                    conn.close(code, _CLOSE_REASONS.get(code or 0, ""))
                elif spec.name == "malformed":
                    self.hub.send(conn, _MALFORMED)
                elif spec.name == "truncated":
                    conn.truncate_next = True
                else:
                    self.hub.send(conn, _oversized(spec.number(4.0)))
            self.faults.fired(spec.name, len(targets))
            log.info("fault.fired", fault=str(spec), connections=len(targets))

    # -- control -------------------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return self.model.symbols

    def inject(self, spec: FaultSpec) -> None:
        log.info("fault.armed", fault=str(spec))
        self.faults.arm(spec, self.clock.now_ns())

    def set_paused(self, paused: bool) -> None:
        """Freeze the market (no events, so only heartbeats flow) or let it run again."""
        self.paused = paused

    def set_rate(self, events_per_second: float) -> None:
        if events_per_second < 0:
            raise ValueError("events_per_second must be >= 0")
        self.events_per_second = events_per_second

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    def credit(self, asset: str, amount: float) -> None:
        """Book a deposit (or withdrawal) now and publish it to `balances` subscribers."""
        entry = self.account.deposit(asset, amount, self.clock.now_ns())
        self.hub.publish_ledger([entry])

    def book_truth(self, symbol: str, depth: int) -> BookTruth:
        spec, book = self.model.spec(symbol), self.model.book(symbol)
        pp, qp = spec.price_precision, spec.qty_precision
        return BookTruth(
            symbol=symbol,
            depth=depth,
            bids=[(p / 10**pp, q / 10**qp) for p, q in book.bids.top(depth)],
            asks=[(p / 10**pp, q / 10**qp) for p, q in book.asks.top(depth)],
            checksum=render.checksum(book),
            timestamp=rfc3339(self.clock.now_ns()),
        )

    def count_rest(self, error: str | None) -> None:
        self.rest_calls += 1
        if error is not None:
            self.rest_errors[error] = self.rest_errors.get(error, 0) + 1

    def state(self) -> SimState:
        now = self.clock.now_ns()
        conns = list(self.hub.connections.values())
        return SimState(
            exchange=self.name,
            uptime_seconds=(now - self.started_ns) / NS_PER_S,
            paused=self.paused,
            events=self.events,
            events_per_second_target=self.events_per_second,
            events_per_second_achieved=round(self.meter.rate(), 1),
            connections_open=len(conns),
            connections_private=sum(1 for c in conns if c.private),
            connections_accepted=self.accepted,
            connections_refused=self.refused,
            subscriptions=self.hub.subscription_count(),
            frames_sent=self.hub.frames_sent,
            book_updates=self.hub.book_updates,
            rest_calls=self.rest_calls,
            rest_errors=dict(self.rest_errors),
            faults=self.faults.snapshot(now),
        )


def _oversized(megabytes: float) -> str:
    """A valid JSON frame of about `megabytes` MB (clients' default limit is 1 MiB)."""
    padding = "x" * max(1, int(megabytes * 1_000_000))
    return f'{{"channel":"oversized","type":"update","data":[{{"padding":"{padding}"}}]}}'
