"""Who is subscribed to what, and the frames each market event turns into.

Every frame is encoded once and the same text is queued to every subscriber that should get it:
book updates once per (symbol, depth) window, tickers once per trigger, trades and candles once
per event. All outbound frames go through `send`, which is where the `stall` fault withholds them.
"""

from __future__ import annotations

from collections.abc import Iterable

from simulator.account import Account, LedgerEntry
from simulator.clock import Clock
from simulator.exchanges.kraken import render
from simulator.exchanges.kraken.connection import KrakenConnection
from simulator.exchanges.kraken.frames import (
    HEARTBEAT,
    FrameType,
    KrakenBalancesFrame,
    KrakenBookData,
    KrakenBookFrame,
    KrakenInstrumentFrame,
    KrakenLedgerFrame,
    KrakenOhlcFrame,
    KrakenTickerFrame,
    KrakenTradeFrame,
    encode,
    rfc3339,
)
from simulator.exchanges.kraken.instruments import KrakenCatalog
from simulator.exchanges.kraken.requests import Subscription
from simulator.exchanges.kraken.views import BookView
from simulator.faults import FaultState
from simulator.market import MarketEvent, MarketModel

OHLC_SNAPSHOT_CANDLES = 10
TRADE_SNAPSHOT_TRADES = 50
_CORRUPTION = 0x5EED_F00D


class _BookGroup:
    __slots__ = ("members", "view")

    def __init__(self, view: BookView) -> None:
        self.view = view
        self.members: set[KrakenConnection] = set()


class KrakenHub:
    """The subscription registry and the fan-out of market events to Kraken frames."""

    def __init__(
        self,
        *,
        model: MarketModel,
        catalog: KrakenCatalog,
        account: Account,
        faults: FaultState,
        clock: Clock,
    ) -> None:
        self.model = model
        self.catalog = catalog
        self.account = account
        self.faults = faults
        self.clock = clock
        self.connections: dict[int, KrakenConnection] = {}
        self._books: dict[str, dict[int, _BookGroup]] = {}
        self._tickers: dict[str, dict[str, set[KrakenConnection]]] = {}
        self._trades: dict[str, set[KrakenConnection]] = {}
        self._ohlc: dict[str, dict[int, set[KrakenConnection]]] = {}
        self._instrument: set[KrakenConnection] = set()
        self._balances: set[KrakenConnection] = set()
        self.frames_sent = 0
        self.book_updates = 0

    # -- delivery ------------------------------------------------------------------------------

    def send(self, conn: KrakenConnection, text: str, now_ns: int | None = None) -> None:
        now = self.clock.now_ns() if now_ns is None else now_ns
        if self.faults.is_stalled(now):
            self.faults.withheld()
            return
        conn.push(text, now)
        self.frames_sent += 1

    def _fan_out(self, members: Iterable[KrakenConnection], text: str, now_ns: int) -> None:
        for conn in members:
            self.send(conn, text, now_ns)

    # -- registry ------------------------------------------------------------------------------

    def attach(self, conn: KrakenConnection) -> None:
        self.connections[conn.id] = conn

    def detach(self, conn: KrakenConnection) -> None:
        for sub in list(conn.subscriptions.values()):
            self.remove(conn, sub)
        self.connections.pop(conn.id, None)

    def subscription_count(self) -> int:
        return sum(len(c.subscriptions) for c in self.connections.values())

    def add(self, conn: KrakenConnection, sub: Subscription) -> None:
        """Register `sub` and queue its snapshot (when asked for) right after the ack."""
        conn.subscriptions[sub.key] = sub
        symbol = sub.symbol or ""
        if sub.channel == "book":
            groups = self._books.setdefault(symbol, {})
            if sub.depth not in groups:
                groups[sub.depth] = _BookGroup(BookView(self.model.book(symbol), sub.depth))
            groups[sub.depth].members.add(conn)
        elif sub.channel == "ticker":
            self._tickers.setdefault(symbol, {}).setdefault(sub.event_trigger, set()).add(conn)
        elif sub.channel == "trade":
            self._trades.setdefault(symbol, set()).add(conn)
        elif sub.channel == "ohlc":
            self._ohlc.setdefault(symbol, {}).setdefault(sub.interval, set()).add(conn)
        elif sub.channel == "instrument":
            self._instrument.add(conn)
        else:
            self._balances.add(conn)
        if sub.snapshot:
            now = self.clock.now_ns()
            self.send(conn, self._snapshot(conn, sub, now), now)

    def _snapshot(self, conn: KrakenConnection, sub: Subscription, now: int) -> str:
        symbol = sub.symbol or ""
        if sub.channel == "book":
            return self._book_snapshot(symbol, self._books[symbol][sub.depth].view, now)
        if sub.channel == "ticker":
            return self._ticker_frame(symbol, now, "snapshot")
        if sub.channel == "trade":
            fills = list(self.model.recent_trades(symbol))[-TRADE_SNAPSHOT_TRADES:]
            trades = render.trades(symbol, self.model.spec(symbol), fills)
            return encode(KrakenTradeFrame(type="snapshot", data=trades))
        if sub.channel == "ohlc":
            return self._ohlc_snapshot(symbol, sub.interval, now)
        if sub.channel == "instrument":
            instruments = render.instrument(self.catalog)
            return encode(KrakenInstrumentFrame(type="snapshot", data=instruments))
        balances = render.balances(self.account)
        return encode(KrakenBalancesFrame(data=balances, sequence=conn.next_sequence()))

    def remove(self, conn: KrakenConnection, sub: Subscription) -> None:
        conn.subscriptions.pop(sub.key, None)
        symbol = sub.symbol or ""
        if sub.channel == "book":
            groups = self._books.get(symbol, {})
            group = groups.get(sub.depth)
            if group is not None:
                group.members.discard(conn)
                if not group.members:
                    del groups[sub.depth]
        elif sub.channel == "ticker":
            self._tickers.get(symbol, {}).get(sub.event_trigger, set()).discard(conn)
        elif sub.channel == "trade":
            self._trades.get(symbol, set()).discard(conn)
        elif sub.channel == "ohlc":
            self._ohlc.get(symbol, {}).get(sub.interval, set()).discard(conn)
        elif sub.channel == "instrument":
            self._instrument.discard(conn)
        else:
            self._balances.discard(conn)

    # -- snapshots -----------------------------------------------------------------------------

    def _book_snapshot(self, symbol: str, view: BookView, now_ns: int) -> str:
        spec = self.model.spec(symbol)
        bids, asks = view.snapshot()
        checksum = render.checksum(self.model.book(symbol))
        data = KrakenBookData(
            symbol=symbol,
            bids=render.levels(bids, spec),
            asks=render.levels(asks, spec),
            checksum=checksum,
            timestamp=rfc3339(now_ns),
        )
        return encode(KrakenBookFrame(type="snapshot", data=[data]))

    def _ticker_frame(self, symbol: str, ts_ns: int, kind: FrameType) -> str:
        spec = self.model.spec(symbol)
        data = render.ticker(symbol, spec, self.model.ticker(symbol, ts_ns), ts_ns)
        return encode(KrakenTickerFrame(type=kind, data=[data]))

    def _ohlc_snapshot(self, symbol: str, interval: int, now_ns: int) -> str:
        spec = self.model.spec(symbol)
        series = self.model.candles(symbol).series[interval]
        candles = series.recent(OHLC_SNAPSHOT_CANDLES)
        data = [render.candle(symbol, spec, c, interval) for c in candles]
        return encode(KrakenOhlcFrame(type="snapshot", timestamp=rfc3339(now_ns, 9), data=data))

    # -- live ----------------------------------------------------------------------------------

    def publish(self, event: MarketEvent) -> None:
        """Turn one market event into every frame its subscribers should receive."""
        symbol, ts = event.symbol, event.ts_ns
        if event.changes and self._books.get(symbol):
            self._publish_book(event)
        tickers = self._tickers.get(symbol)
        if tickers:
            members = list(tickers.get("trades", ())) if event.fills else []
            if event.bbo_changed:
                members.extend(tickers.get("bbo", ()))
            if members:
                self._fan_out(members, self._ticker_frame(symbol, ts, "update"), ts)
        if not event.fills:
            return
        spec = self.model.spec(symbol)
        trade_subs = self._trades.get(symbol)
        if trade_subs:
            data = render.trades(symbol, spec, event.fills)
            text = encode(KrakenTradeFrame(type="update", data=data))
            self._fan_out(trade_subs, text, ts)
            if self.faults.take_trade_duplicate(symbol):
                self._fan_out(trade_subs, text, ts)
                self.faults.fired("duplicate_trade", len(trade_subs))
        for interval, subscribers in self._ohlc.get(symbol, {}).items():
            if subscribers:
                last = self.model.candles(symbol).series[interval].last()
                if last is not None:
                    data_c = [render.candle(symbol, spec, last, interval)]
                    frame = KrakenOhlcFrame(type="update", timestamp=rfc3339(ts, 9), data=data_c)
                    self._fan_out(subscribers, encode(frame), ts)

    def _publish_book(self, event: MarketEvent) -> None:
        symbol = event.symbol
        book, spec = self.model.book(symbol), self.model.spec(symbol)
        checksum: int | None = None
        fault = None
        for group in self._books[symbol].values():
            bids, asks = group.view.apply(book, event.changes)
            if not (bids or asks):
                continue
            if checksum is None:
                checksum = render.checksum(book)
                fault = self.faults.take_book_fault(symbol)
            self.book_updates += 1
            if fault is not None:
                self.faults.fired(fault, len(group.members))
                if fault == "skip_book_update":
                    continue
            data = KrakenBookData(
                symbol=symbol,
                bids=render.levels(bids, spec),
                asks=render.levels(asks, spec),
                checksum=checksum ^ _CORRUPTION if fault == "corrupt_checksum" else checksum,
                timestamp=rfc3339(event.ts_ns),
            )
            text = encode(KrakenBookFrame(type="update", data=[data]))
            self._fan_out(group.members, text, event.ts_ns)

    def publish_ledger(self, entries: list[LedgerEntry]) -> None:
        if not entries or not self._balances:
            return
        data = render.ledger(self.account, entries)
        now = self.clock.now_ns()
        for conn in self._balances:
            frame = KrakenLedgerFrame(data=data, sequence=conn.next_sequence())
            self.send(conn, encode(frame), now)

    def heartbeat(self, now_ns: int, interval_ns: int) -> None:
        """Kraken's heartbeat: about once a second on a subscribed connection that is idle."""
        for conn in self.connections.values():
            if conn.subscriptions and now_ns - conn.last_sent_ns >= interval_ns:
                self.send(conn, HEARTBEAT, now_ns)
                conn.last_sent_ns = now_ns
