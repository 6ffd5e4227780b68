"""The seeded market model: a fair price per instrument, a limit order book around it, and the
trades, tickers and candles that follow from the book.

Pure and deterministic: no I/O, no system clock. One `random.Random(seed)` drives everything, time
comes from an injected `Clock` (or the timestamps the caller passes to `step`), so the same seed
and the same timestamps give the same events.

How the market moves:
- each instrument has a fair price following geometric Brownian motion with its own volatility
  and occasional jumps;
- each step picks an instrument (weighted by activity) and one action: a resting order added near
  the fair price, a level cancelled or modified, or a taker order that consumes the touch;
- taker orders lean towards the side the fair price has moved to and levels it left behind are
  cancelled first, so the book follows the fair price; every trade is at the touch and removes
  the liquidity it takes (buys lift the ask, sells hit the bid), and the book is never crossed
  because a new resting order is always placed strictly behind the opposite touch;
- before the first event, a seeded candle history ends at the start price and a minute of
  warm-up trading fills the recent trades, so snapshots are full from the first client on.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Sequence
from typing import Literal, NamedTuple

import msgspec

from simulator.book import BookSide, OrderBook, Side
from simulator.candles import Candle, CandleStore, generate_history
from simulator.clock import NS_PER_S, Clock
from simulator.instruments import InstrumentSpec, instruments_for

TakerSide = Literal["buy", "sell"]
OrdType = Literal["market", "limit"]

_SECONDS_PER_YEAR = 365.0 * 86_400.0
_JUMPS_PER_SECOND = 1.0 / 1_800.0
_JUMP_SIGMA_SECONDS = 300.0  # a jump moves the price like five minutes of ordinary diffusion
_P_TRADE, _P_ADD, _P_CANCEL = 0.12, 0.55, 0.80  # cumulative action probabilities; rest: modify
_DEPTH_SLACK = 25  # levels kept beyond the deepest subscribable depth, so truncation happens
_RECENT_TRADES = 1_000
_WARMUP_SECONDS = 60


class LevelChange(NamedTuple):
    """A price level's new size (lots; 0 = removed)."""

    side: Side
    price: int
    qty: int


class Fill(NamedTuple):
    """One trade: a taker order against one resting level."""

    trade_id: int
    price: int
    qty: int
    side: TakerSide
    ord_type: OrdType
    ts_ns: int


class MarketEvent(msgspec.Struct, frozen=True, gc=False):
    """What one step changed on one instrument, in the order it happened."""

    symbol: str
    ts_ns: int
    changes: list[LevelChange]
    fills: list[Fill]
    bbo_changed: bool


class TickerStats(msgspec.Struct, frozen=True, kw_only=True):
    """Level-1 view plus rolling 24 h and since-midnight statistics (ticks and lots)."""

    bid: int
    bid_qty: int
    ask: int
    ask_qty: int
    last: int
    last_qty: int
    day: Candle | None
    today: Candle | None


class _Instrument:
    """The mutable state of one instrument."""

    def __init__(self, spec: InstrumentSpec, rng: random.Random, start_ns: int) -> None:
        self.spec = spec
        self.book = OrderBook(spec.symbol)
        self.sigma = spec.annual_volatility / math.sqrt(_SECONDS_PER_YEAR)
        start_ticks = round(spec.start_price * 10**spec.price_precision)
        self.fair = math.log(start_ticks)
        self.ts_ns = start_ns
        lot_scale: int = 10**spec.qty_precision
        self.mean_lots = spec.typical_qty * lot_scale
        self.min_lots = max(1, math.ceil(spec.qty_min * lot_scale))
        self.gap = max(1.0, start_ticks * 2e-5)
        self.trade_id = rng.randrange(10_000_000, 200_000_000)
        self.trades: deque[Fill] = deque(maxlen=_RECENT_TRADES)
        self.last: Fill | None = None
        end_s = start_ns // NS_PER_S - _WARMUP_SECONDS
        end_s -= end_s % 60
        history = generate_history(
            rng,
            end_s,
            start_ticks,
            sigma_per_s=self.sigma,
            lots_per_s=self.mean_lots / 30.0,
            lots_per_trade=self.mean_lots / 4.0,
        )
        self.candles = CandleStore(history)


class MarketModel:
    """Every configured instrument's market, advanced one event at a time by `step`."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        seed: int,
        clock: Clock,
        max_depth: int = 1000,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not crypto
        self.clock = clock
        self.capacity = max_depth + _DEPTH_SLACK
        self.start_ns = clock.now_ns()
        specs = instruments_for(list(symbols))
        self.instruments: dict[str, InstrumentSpec] = {s.symbol: s for s in specs}
        self._state = {s.symbol: _Instrument(s, self.rng, self.start_ns) for s in specs}
        self._symbols = [s.symbol for s in specs]
        weights = [s.activity for s in specs]
        total = sum(weights)
        acc, self._cumulative = 0.0, []
        for w in weights:
            acc += w / total
            self._cumulative.append(acc)
        self.events = 0
        self._last_ns = self.start_ns
        for state in self._state.values():
            self._seed_book(state)
        self._warm_up()

    # -- queries ------------------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def book(self, symbol: str) -> OrderBook:
        return self._state[symbol].book

    def spec(self, symbol: str) -> InstrumentSpec:
        return self._state[symbol].spec

    def candles(self, symbol: str) -> CandleStore:
        return self._state[symbol].candles

    def recent_trades(self, symbol: str) -> Sequence[Fill]:
        """The last trades (up to 1,000), oldest first."""
        return self._state[symbol].trades

    def ticker(self, symbol: str, now_ns: int | None = None) -> TickerStats:
        state = self._state[symbol]
        now_s = (self._last_ns if now_ns is None else now_ns) // NS_PER_S
        bids, asks = state.book.bids, state.book.asks
        bid, ask = bids.best() or 0, asks.best() or 0
        last = state.last
        return TickerStats(
            bid=bid,
            bid_qty=bids.qty(bid),
            ask=ask,
            ask_qty=asks.qty(ask),
            last=last.price if last else round(math.exp(state.fair)),
            last_qty=last.qty if last else 0,
            day=state.candles.rolling(now_s, 86_400),
            today=state.candles.today(now_s),
        )

    # -- stepping ------------------------------------------------------------------------------

    def step(self, ts_ns: int | None = None) -> MarketEvent:
        """Advance the market by one event at `ts_ns` (default: the clock's now; never earlier
        than the previous event)."""
        ts = max(self.clock.now_ns() if ts_ns is None else ts_ns, self._last_ns)
        self._last_ns = ts
        rng = self.rng
        r = rng.random()
        index = 0
        while index < len(self._cumulative) - 1 and r > self._cumulative[index]:
            index += 1
        state = self._state[self._symbols[index]]
        self._diffuse(state, ts)
        bids, asks = state.book.bids, state.book.asks
        before = (bids.best(), asks.best(), bids.qty(bids.best() or 0), asks.qty(asks.best() or 0))
        changes: list[LevelChange] = []
        fills: list[Fill] = []
        action = rng.random()
        if action < _P_TRADE:
            self._take(state, ts, changes, fills)
        elif action < _P_ADD:
            self._add(state, changes)
        elif action < _P_CANCEL:
            self._cancel(state, changes)
        else:
            self._modify(state, changes)
        after = (bids.best(), asks.best(), bids.qty(bids.best() or 0), asks.qty(asks.best() or 0))
        self.events += 1
        return MarketEvent(state.spec.symbol, ts, changes, fills, before != after)

    def _diffuse(self, state: _Instrument, ts: int) -> None:
        dt = max(0.0, (ts - state.ts_ns) / NS_PER_S)
        state.ts_ns = max(ts, state.ts_ns)
        if dt <= 0.0:
            return
        rng = self.rng
        state.fair += state.sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0)
        if rng.random() < _JUMPS_PER_SECOND * dt:
            state.fair += state.sigma * math.sqrt(_JUMP_SIGMA_SECONDS) * rng.gauss(0.0, 1.0)

    def _lots(self, state: _Instrument, scale: float = 1.0, spread: float = 1.0) -> int:
        lots = state.mean_lots * scale * self.rng.lognormvariate(-0.5 * spread * spread, spread)
        return max(state.min_lots, round(lots))

    def _set(self, side: BookSide, price: int, qty: int, changes: list[LevelChange]) -> None:
        side.set(price, qty)
        changes.append(LevelChange(side.side, price, qty))

    def _add(self, state: _Instrument, changes: list[LevelChange]) -> None:
        """A resting order: mostly near the fair price, otherwise anywhere in the book's span."""
        rng = self.rng
        book = state.book
        side = book.bids if rng.random() < 0.5 else book.asks
        opposite = book.asks if side is book.bids else book.bids
        r = rng.random()
        if r < 0.35:
            offset = int(rng.expovariate(1.0 / (3.0 * state.gap)))
        elif r < 0.65:
            offset = int(rng.expovariate(1.0 / (40.0 * state.gap)))
        else:
            offset = int(rng.uniform(0.0, 1.2 * self.capacity * state.gap))
        fair = round(math.exp(state.fair))
        price = fair - 1 - offset if side is book.bids else fair + 1 + offset
        touch = opposite.best()
        if touch is not None:  # never cross: rest strictly behind the opposite touch
            price = min(price, touch - 1) if side is book.bids else max(price, touch + 1)
        if price <= 0:
            return
        self._set(side, price, side.qty(price) + self._lots(state), changes)
        while len(side) > self.capacity:
            worst = side.worst()
            assert worst is not None
            self._set(side, worst, 0, changes)

    def _pick_level(self, side: BookSide) -> int | None:
        if len(side) <= 1:
            return None
        rng = self.rng
        if rng.random() < 0.1:
            rank = rng.randrange(len(side))
        else:
            rank = min(len(side) - 1, int(rng.expovariate(1.0 / 40.0)))
        return side.price_at(rank)

    def _cancel(self, state: _Instrument, changes: list[LevelChange]) -> None:
        book = state.book
        side = self._stale_side(state) or (book.bids if self.rng.random() < 0.5 else book.asks)
        price = self._pick_level(side)
        if price is None:
            return
        # A side short of levels sees partial cancels instead, so depth recovers to capacity.
        deficit = 1.0 - len(side) / self.capacity
        if self.rng.random() < 1.0 - 3.0 * deficit:
            self._set(side, price, 0, changes)
        else:
            qty = side.qty(price)
            self._set(side, price, max(1, round(qty * self.rng.uniform(0.2, 0.8))), changes)

    def _modify(self, state: _Instrument, changes: list[LevelChange]) -> None:
        book = state.book
        side = book.bids if self.rng.random() < 0.5 else book.asks
        price = self._pick_level(side)
        if price is None:
            return
        qty = side.qty(price)
        new = max(1, round(qty * self.rng.uniform(0.3, 1.7)))
        if new != qty:
            self._set(side, price, new, changes)

    def _stale_side(self, state: _Instrument) -> BookSide | None:
        """The side left behind by the fair price, if the fair price has moved past its touch."""
        fair = math.exp(state.fair)
        bid, ask = state.book.bids.best(), state.book.asks.best()
        if ask is not None and ask < fair - state.gap:
            return state.book.asks
        if bid is not None and bid > fair + state.gap:
            return state.book.bids
        return None

    def _take(
        self, state: _Instrument, ts: int, changes: list[LevelChange], fills: list[Fill]
    ) -> None:
        """A taker order: it trades at the touch and walks the book while size remains."""
        rng = self.rng
        book = state.book
        mid = book.mid() or math.exp(state.fair)
        lean = (math.exp(state.fair) - mid) / (4.0 * state.gap)
        buy = rng.random() < 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, lean))))
        side: TakerSide = "buy" if buy else "sell"
        resting = book.asks if buy else book.bids
        ord_type: OrdType = "market" if rng.random() < 0.6 else "limit"
        remaining = self._lots(state, scale=0.5, spread=1.2)
        while remaining > 0 and len(resting) > 1:
            price = resting.best()
            assert price is not None
            available = resting.qty(price)
            take = min(available, remaining)
            remaining -= take
            self._set(resting, price, available - take, changes)
            state.trade_id += 1
            fill = Fill(state.trade_id, price, take, side, ord_type, ts)
            fills.append(fill)
            state.trades.append(fill)
            state.candles.add_trade(ts // NS_PER_S, price, take)
        if fills:
            state.last = fills[-1]

    # -- start-up -------------------------------------------------------------------------------

    def _seed_book(self, state: _Instrument) -> None:
        """A full book around the last historical close before the first event."""
        close = state.candles.series[1].last()
        centre = close.close if close else round(math.exp(state.fair))
        state.fair = math.log(centre)
        rng, gap = self.rng, state.gap
        half_spread = 1 + int(rng.expovariate(1.0 / gap))
        for side, sign in ((state.book.bids, -1), (state.book.asks, 1)):
            price = centre + sign * half_spread
            for _ in range(self.capacity - _DEPTH_SLACK // 2):
                if price <= 0:
                    break
                side.set(price, self._lots(state))
                price += sign * (1 + int(rng.expovariate(1.0 / gap)))

    def _warm_up(self) -> None:
        """Trade through the minute before the start so there are recent trades (a trade
        snapshot has 50) and the forming candles are populated when the first client comes."""
        start, span = self.start_ns, _WARMUP_SECONDS * NS_PER_S
        first = start - span
        self._last_ns = first
        steps = 0
        while steps < 200_000 and any(len(s.trades) < 50 for s in self._state.values()):
            steps += 1
            self.step(first + span * steps // (steps + 400))  # approaches, never reaches, start
